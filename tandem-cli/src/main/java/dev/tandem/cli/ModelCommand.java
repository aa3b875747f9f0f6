package dev.tandem.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code tandem model ...}: look at and make model files. */
@Command(name = "model", mixinStandardHelpOptions = true,
        description = "Inspect and make model files.",
        subcommands = {ModelInspectCommand.class, ModelSynthCommand.class})
final class ModelCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
