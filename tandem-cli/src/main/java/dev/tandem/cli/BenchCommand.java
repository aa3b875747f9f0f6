package dev.tandem.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code tandem bench ...}: speed measurements with real parts. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure speed: the engine, KV transfer, serving, routing.",
        subcommands = {BenchEngineCommand.class, TransferBenchCommand.class, ServeBenchCommand.class,
            CompareBenchCommand.class, BenchReplayCommand.class, BenchFrontendCommand.class})
final class BenchCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
