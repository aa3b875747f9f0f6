package dev.tandem.cli;

import dev.tandem.core.ConfigException;
import dev.tandem.frontend.ClusterFrontend;
import dev.tandem.frontend.FrontendConfig;
import dev.tandem.frontend.LocalModel;
import dev.tandem.router.RouterConfig;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EventBus;
import dev.tandem.runtime.registry.Registry;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem frontend}: the OpenAI-compatible server and the KV-aware router, with workers in
 * other processes found through etcd and followed through NATS. Runs until Ctrl-C or SIGTERM.
 */
@Command(name = "frontend", mixinStandardHelpOptions = true,
        description = {"Serve the OpenAI API with workers started by 'tandem worker' in other processes:",
            "found through etcd (--registry), KV events and load from NATS (--events).",
            "The model file is read for its tokenizer and chat template only. Stop with Ctrl-C."})
final class FrontendCommand implements Callable<Integer> {
    @Option(names = "--registry", required = true, description = "etcd://host:port[,host:port...] (or memory://name in one JVM)")
    String registry;

    @Option(names = "--events", required = true, description = "nats://host:port[,host:port...] (or memory://name in one JVM)")
    String events;

    @Option(names = "--namespace", description = "deployment namespace (default: " + RuntimeConfig.DEFAULT_NAMESPACE + ")")
    String namespace;

    @Option(names = "--model", description = "the model's .gguf file (tokenizer, chat template), or a name found in"
            + " TANDEM_MODEL_PATH (default: " + ModelPaths.DEFAULT_MODEL + ")")
    String model;

    @Option(names = "--served-model-name", description = "the name clients use; workers must register the same"
            + " (default: the file name)")
    String servedName;

    @Option(names = "--router", defaultValue = "kv", description = "routing policy: kv, round-robin, random,"
            + " least-loaded or session-affinity (default: ${DEFAULT-VALUE})")
    String router;

    @Option(names = "--block-size", defaultValue = "16", description = "KV block size every worker of the model must"
            + " use; others are refused (default: ${DEFAULT-VALUE})")
    int blockSize;

    @Option(names = "--max-running", defaultValue = "" + FrontendConfig.DEFAULT_MAX_RUNNING,
            description = "engine sequences admitted at once over all workers (default: ${DEFAULT-VALUE})")
    int maxRunning;

    @Option(names = "--probe-interval-ms", defaultValue = "" + ClusterFrontend.Spec.DEFAULT_PROBE_INTERVAL_MS,
            description = "how often a registered but unreachable worker is probed (default: ${DEFAULT-VALUE})")
    long probeIntervalMs;

    @picocli.CommandLine.Mixin
    HttpServerOptions http = new HttpServerOptions();

    @picocli.CommandLine.Mixin
    DispatchOptions disagg = new DispatchOptions();

    @Option(names = "--connect-timeout-ms", defaultValue = "30000",
            description = "how long to keep trying to reach etcd and NATS at startup (default: ${DEFAULT-VALUE})")
    long connectTimeoutMs;

    /** Released to stop (tests); Ctrl-C and SIGTERM stop it too. */
    final Foreground foreground = new Foreground();
    /** Set once the frontend listens; read by tests. */
    volatile ClusterFrontend running;

    @Override
    public Integer call() throws InterruptedException {
        RuntimeConfig runtime = WorkerCommand.runtimeConfig(namespace, null);
        ClusterFrontend.Spec spec = spec(runtime);
        List<AutoCloseable> parts = new ArrayList<>();
        try {
            LocalModel localModel = LocalModel.open(ModelPaths.resolve(model), servedName);
            parts.addFirst(localModel);
            Registry reg = RuntimeUrls.registry(registry, runtime, connectTimeoutMs);
            parts.addFirst(reg);
            EventBus bus = RuntimeUrls.events(events, "tandem-frontend", runtime, connectTimeoutMs);
            parts.addFirst(bus);
            running = ClusterFrontend.start(spec, disagg.dispatch(), localModel, reg, bus, runtime);
            parts.addFirst(running);
        } catch (RuntimeException e) {
            for (AutoCloseable part : parts) {
                try {
                    part.close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        PrintStream out = System.out;
        out.printf("Tandem frontend for model '%s' (router: %s); workers from %s, events from %s (namespace %s)%n",
                running.modelName(), spec.router().policy().configName(), registry, events, runtime.namespace());
        out.printf("OpenAI API at %s/v1  (Ctrl-C to stop)%n", running.url());
        out.flush();
        foreground.run("frontend", parts, "Tandem frontend stopped");
        return 0;
    }

    ClusterFrontend.Spec spec(RuntimeConfig runtime) {
        if (blockSize < 1) {
            throw new ConfigException("--block-size must be at least 1, got " + blockSize);
        }
        FrontendConfig fc = http.config(maxRunning);
        RouterConfig rc = RouterConfig.defaults().withBlockSizeTokens(blockSize)
                .withPolicy(RouterConfig.PolicyKind.parse(router));
        return new ClusterFrontend.Spec(fc, rc, probeIntervalMs,
                ClusterFrontend.Spec.silenceFor(runtime.loadReportIntervalMs()));
    }
}
