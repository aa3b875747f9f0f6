package dev.tandem.cli;

import dev.tandem.bench.ArrivalMode;
import dev.tandem.bench.BenchReport;
import dev.tandem.bench.CompareBench;
import dev.tandem.bench.ServeConfiguration;
import dev.tandem.bench.ServerLauncher;
import dev.tandem.bench.Workload;
import dev.tandem.core.ConfigException;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tandem bench compare}: the same workload against several deployments, each a
 * {@code tandem serve} started in its own JVM, in one side-by-side report.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Start each configuration as its own 'tandem serve' JVM on a free port (one at a time), run the "
                + "same workload against each, and write one side-by-side report with the seed's claims next to "
                + "the measurements.",
            "Configurations: baseline (1 worker), round-robin (N workers), kv (N workers, KV-aware router), "
                + "disagg (P prefill + D decode, kv router), disagg-rr (P + D, round-robin: naive disaggregation)."})
final class CompareBenchCommand implements Runnable {
    /** Fresh server JVMs compile their hot paths during the first requests; keep those out of the figures. */
    static final int DEFAULT_WARMUP_REQUESTS = 8;

    @Option(names = "--model", description = "model for every server (a .gguf file or a name in TANDEM_MODEL_PATH; "
            + "default: tandem serve's default)")
    String model;

    @Option(names = "--mock", description = "mock engines (a simulation: results are labelled as such)")
    boolean mock;

    @Option(names = "--mock-speedup", description = "with --mock: divides the mock's step times")
    Double mockSpeedup;

    @Option(names = "--workers", defaultValue = "4", description = "N for round-robin and kv (default: ${DEFAULT-VALUE})")
    int workers;

    @Option(names = "--prefill-workers", defaultValue = "1", description = "P for disagg (default: ${DEFAULT-VALUE})")
    int prefillWorkers;

    @Option(names = "--decode-workers", defaultValue = "1", description = "D for disagg (default: ${DEFAULT-VALUE})")
    int decodeWorkers;

    @Option(names = "--configs", split = ",", defaultValue = "baseline,round-robin,kv,disagg,disagg-rr",
            description = "which configurations, in order (default: ${DEFAULT-VALUE})")
    List<String> configs;

    @Option(names = "--rounds", defaultValue = "1", description = "run the whole list of configurations this many "
            + "times in the same order (A, B, A, B), each with a fresh server (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--serve-arg", description = "extra argument for every tandem serve (repeatable), e.g. "
            + "--serve-arg=--kv-blocks --serve-arg=4096")
    List<String> serveArgs = new ArrayList<>();

    @Option(names = "--server-java-opt", description = "extra JVM option for every server (repeatable), e.g. -Xmx2g")
    List<String> serverJavaOpts = new ArrayList<>();

    @Option(names = "--ready-timeout-s", defaultValue = "300",
            description = "how long a server may take to load and become ready, s (default: ${DEFAULT-VALUE})")
    long readyTimeoutS;

    @Mixin
    ServeBenchCommand.WorkloadOptions workload = new ServeBenchCommand.WorkloadOptions();

    @Mixin
    ServeBenchCommand.LoadOptions load = new ServeBenchCommand.LoadOptions();

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        if (mockSpeedup != null && !mock) {
            throw new ConfigException("--mock-speedup needs --mock");
        }
        Workload w = workload.build();
        List<ArrivalMode> arrivals = load.arrivals(w);
        if (arrivals.size() != 1) {
            throw new ConfigException("bench compare takes one --concurrency or --rate value (the same load for "
                    + "every configuration), got " + arrivals.size());
        }
        List<String> serverArgs = new ArrayList<>();
        if (model != null) {
            serverArgs.addAll(List.of("--model", model));
        }
        if (mock) {
            serverArgs.add("--mock");
            if (mockSpeedup != null) {
                serverArgs.addAll(List.of("--mock-speedup", Double.toString(mockSpeedup)));
            }
        }
        serverArgs.addAll(serveArgs);
        String modelLabel = (model != null ? model : "tandem serve's default model")
                + (mock ? " (mock engines: simulation)" : " (real engine)");
        CompareBench.Settings settings = new CompareBench.Settings(launcher(), serverArgs, mock, modelLabel, workers,
                prefillWorkers, decodeWorkers, ServeConfiguration.parseList(configs), rounds, w, arrivals.getFirst(),
                load.settings(workload.seed, DEFAULT_WARMUP_REQUESTS), Duration.ofSeconds(readyTimeoutS), logDir(), CommandLines.typed(spec));
        BenchReport report = CompareBench.run(settings, System.err);
        load.emit(report, spec.commandLine().getOut());
    }

    /** This JVM's java, flags and class path, running {@code dev.tandem.cli.Main serve}. */
    ServerLauncher launcher() {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            // debugger and agent flags would make every server fight over one port or agent
            if (!arg.startsWith("-agentlib") && !arg.startsWith("-javaagent") && !arg.startsWith("-Xrunjdwp")) {
                command.add(arg);
            }
        }
        command.addAll(serverJavaOpts);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "serve"));
        return new ServerLauncher(command);
    }

    private Path logDir() {
        if (load.out != null) {
            return load.out.resolve("logs");
        }
        try {
            return Files.createTempDirectory("tandem-compare-logs");
        } catch (IOException e) {
            throw new ConfigException("cannot create a directory for server logs: " + e.getMessage(), e);
        }
    }
}
