package dev.tandem.cli;

import dev.tandem.cli.cluster.ClusterFile;
import dev.tandem.cli.cluster.ClusterState;
import dev.tandem.cli.cluster.JavaLauncher;
import dev.tandem.cli.cluster.LocalCluster;
import dev.tandem.cli.planner.LocalClusterActuator;
import dev.tandem.cli.planner.PlannerConfig;
import dev.tandem.cli.planner.PlannerLoop;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tandem up cluster.yaml}: a local multi-process cluster (etcd, NATS, a frontend and the
 * file's workers), each part in its own process, until Ctrl-C or {@code tandem down}.
 */
@Command(name = "up", mixinStandardHelpOptions = true,
        description = {"Start a local cluster described by a YAML file (see docs/cluster.example.yaml):",
            "etcd and NATS from PATH on free loopback ports, one 'tandem frontend' and the file's",
            "'tandem worker's, each in its own JVM. Logs go to the state directory.",
            "A worker entry '{ upstream: \"http://HOST:PORT\" }' is a sidecar adapting a server you run",
            "(llama-server, vLLM, SGLang, OpenAI-compatible) instead of an engine of its own.",
            "Stop with Ctrl-C, or from another shell with: tandem down --name NAME"})
final class UpCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "the cluster file (YAML)")
    Path file;

    @Option(names = "--state-dir", description = "logs, etcd data and the state file (default: $TMPDIR/tandem-up-NAME)")
    Path stateDir;

    @Option(names = "--planner", description = "start and drain prefill and decode workers to meet --ttft-slo-ms "
            + "and --itl-slo-ms (the cluster file needs a prefill and a decode worker group)")
    boolean planner;

    @Mixin
    PlannerOptions plannerOptions;

    final Foreground foreground = new Foreground();
    /** Set once every part is up; read by tests. */
    volatile LocalCluster running;

    @Override
    public Integer call() throws InterruptedException {
        ClusterFile spec = ClusterFile.read(file);
        PlannerConfig plannerConfig = null;
        if (planner) {
            plannerConfig = plannerOptions.config();
            LocalClusterActuator.requirePools(spec);
        }
        Path dir = stateDir != null ? stateDir : ClusterState.defaultDir(spec.name());
        PrintStream out = System.out;
        out.printf("Starting cluster '%s': etcd, NATS, a frontend and %d worker%s; logs in %s%n", spec.name(),
                spec.workerCount(), spec.workerCount() == 1 ? "" : "s", dir);
        out.flush();
        LocalCluster cluster = LocalCluster.start(spec, dir, JavaLauncher.current(), line -> {
            out.println("  " + line);
            out.flush();
        });
        running = cluster;
        out.printf("Tandem cluster '%s' is up: OpenAI API at %s/v1%n", spec.name(), cluster.url());
        out.printf("Stop with Ctrl-C, or: tandem down --name %s%n", spec.name());
        out.flush();
        Thread watcher = Thread.ofPlatform().daemon().name("tandem-up-watch").start(() -> watch(cluster, out));
        List<AutoCloseable> parts = new ArrayList<>();
        if (plannerConfig != null) {
            parts.add(PlannerLoop.start(plannerConfig, cluster.url(), new LocalClusterActuator(cluster, line -> {
                out.println(line);
                out.flush();
            }), out, plannerOptions.intervalMs));
        }
        parts.add(cluster);
        try {
            foreground.run("up", parts, "Tandem cluster '" + spec.name() + "' stopped");
        } finally {
            watcher.interrupt();
        }
        return 0;
    }

    /** Reports parts that exit while the cluster is up (once each). */
    private void watch(LocalCluster cluster, PrintStream out) {
        Set<String> reported = new HashSet<>();
        try {
            while (!foreground.stopping()) {
                Thread.sleep(1_000);
                if (foreground.stopping()) {
                    return;
                }
                for (String gone : cluster.exited()) {
                    if (reported.add(gone)) {
                        out.println("warning: " + gone + " has exited");
                        out.flush();
                    }
                }
            }
        } catch (InterruptedException e) {
            // stopping
        }
    }
}
