package dev.tandem.cli;

import dev.tandem.core.TandemException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code tandem} command. */
@Command(name = "tandem",
        mixinStandardHelpOptions = true,
        versionProvider = Main.Version.class,
        description = "Disaggregated LLM serving on the JVM.",
        subcommands = {
            ModelCommand.class,
            ServeCommand.class,
            FrontendCommand.class,
            WorkerCommand.class,
            UpCommand.class,
            DownCommand.class,
            PlannerCommand.class,
            BenchCommand.class,
            TokenizeCommand.class,
            GenerateCommand.class,
            CommandLine.HelpCommand.class
        })
public final class Main implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /** Runs the command line and returns the exit code; used by tests too. */
    public static int execute(String... args) {
        CommandLine cli = newCommandLine();
        return cli.execute(args);
    }

    static CommandLine newCommandLine() {
        CommandLine cli = new CommandLine(new Main());
        cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            if (e instanceof TandemException) {
                commandLine.getErr().println("error: " + e.getMessage());
                return 1;
            }
            throw e;
        });
        return cli;
    }

    /** Version from the jar manifest, or "dev" when run from classes. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"tandem " + (v == null ? "0.1.0-SNAPSHOT" : v),
                "Java " + Runtime.version() + " (" + System.getProperty("java.vendor") + ")"};
        }
    }
}
