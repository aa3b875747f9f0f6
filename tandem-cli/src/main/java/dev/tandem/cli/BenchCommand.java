package dev.tandem.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code tandem bench ...}: speed measurements. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure speed.",
        subcommands = {BenchEngineCommand.class})
final class BenchCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
