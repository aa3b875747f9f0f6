package dev.tandem.cli;

import picocli.CommandLine.Command;

/** {@code tandem bench ...}: benchmarks that measure speed with real parts. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Run benchmarks.",
        subcommands = {TransferBenchCommand.class, ServeBenchCommand.class})
final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
