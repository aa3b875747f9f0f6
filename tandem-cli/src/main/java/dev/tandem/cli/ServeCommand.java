package dev.tandem.cli;

import dev.tandem.cli.embedded.EmbeddedDeployment;
import dev.tandem.core.ConfigException;
import dev.tandem.core.TransferKind;
import dev.tandem.engine.EngineConfig;
import dev.tandem.frontend.FrontendConfig;
import dev.tandem.router.RouterConfig;
import dev.tandem.worker.DisaggEngine;
import dev.tandem.worker.upstream.NixlEngine;
import dev.tandem.worker.upstream.UpstreamConfig;
import dev.tandem.worker.upstream.UpstreamKind;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tandem serve}: the whole system in one JVM: an OpenAI-compatible frontend, a router and
 * N workers over one model. Runs until Ctrl-C (SIGINT) or SIGTERM, then shuts down cleanly.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a model over the OpenAI API: frontend, router and workers in one JVM.",
            "Endpoints: POST /v1/chat/completions, POST /v1/completions, GET /v1/models,",
            "GET /health, GET /ready, GET /metrics. Stop with Ctrl-C.",
            "KV pool per worker: --kv-blocks or --kv-cache-memory (default " + ServeCommand.DEFAULT_KV_CACHE_MEMORY
                    + "); --threads is per worker (default: cores / workers).",
            "With --upstream URL (repeatable) the workers are external servers instead (llama-server, vLLM,",
            "SGLang or any OpenAI-compatible one), sent token ids from --model's tokenizer and chat template:",
            "  tandem serve --model stories260K --upstream http://127.0.0.1:8081 --upstream http://127.0.0.1:8082",
            "With --upstream-prefill URL (repeatable), vLLM servers with the NixlConnector",
            "serve disaggregated: those prefill, the --upstream ones decode, reading the",
            "prompt's KV blocks from their peer (as with vLLM's own proxy):",
            "  tandem serve --model M --upstream-kind vllm \\",
            "      --upstream-prefill http://p:8100 --upstream http://d:8200"})
final class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", description = "a .gguf file, or a model name found in TANDEM_MODEL_PATH"
            + " (default: " + ModelPaths.DEFAULT_MODEL + ")")
    String model;

    @Option(names = "--served-model-name", description = "the name clients use (default: the file name)")
    String servedName;

    @Option(names = "--workers", description = "aggregated workers (engines) in this process (default: 1)")
    Integer workers;

    @Option(names = "--prefill-workers", description = "prefill workers (with --decode-workers: disaggregated "
            + "serving; instead of --workers)")
    Integer prefillWorkers;

    @Option(names = "--decode-workers", description = "decode workers (with --prefill-workers)")
    Integer decodeWorkers;

    @Option(names = {"--transfer", "--kv-transport"}, defaultValue = "local",
            description = "KV transport between the in-process prefill and decode workers: local (a copy between "
                    + "pools), shm (pools in /dev/shm files, mapped by the peer) or tcp (loopback sockets), or a "
                    + "comma-separated list (each pull uses the best one both sides have: local, then shm, then tcp) "
                    + "(default: ${DEFAULT-VALUE})")
    String transfer;

    @Option(names = "--transfer-timeout-ms", defaultValue = "" + DisaggEngine.DEFAULT_TRANSFER_TIMEOUT_MS,
            description = "deadline of one KV pull (default: ${DEFAULT-VALUE})")
    long transferTimeoutMs;

    @Option(names = "--kv-handle-ttl", description = "how long a prefill worker keeps a prompt's blocks pinned for "
            + "its decode worker if nobody releases them, e.g. 30s (default: "
            + EngineConfig.DEFAULT_PIN_TTL_MS + " ms)")
    String kvHandleTtl;

    @Mixin
    HttpServerOptions http = new HttpServerOptions();

    @Mixin
    DispatchOptions disagg = new DispatchOptions();

    @Option(names = "--router", defaultValue = "kv", description = "routing policy: kv, round-robin, random,"
            + " least-loaded or session-affinity (default: ${DEFAULT-VALUE})")
    String router;

    @Option(names = "--upstream", paramLabel = "URL", description = "an external server to route to, one worker "
            + "each (repeat for more); --model must be the model it serves (its tokenizer and chat template are used)")
    List<String> upstreams = new ArrayList<>();

    @Option(names = "--upstream-prefill", paramLabel = "URL", description = "a vLLM server (NixlConnector, "
            + "--kv-transfer-config '{\"kv_connector\":\"NixlConnector\",\"kv_role\":\"kv_both\"}') that prefills "
            + "for the --upstream servers, which then decode (repeat for more); not llama-server or SGLang, whose "
            + "disaggregation differs")
    List<String> upstreamPrefills = new ArrayList<>();

    @Option(names = "--upstream-kind", defaultValue = "auto", description = "auto, llama-server, vllm, sglang or "
            + "openai; auto asks the server (/props, /metrics, /version, /v1/models) (default: ${DEFAULT-VALUE})")
    String upstreamKind;

    @Option(names = "--upstream-timeout-ms", defaultValue = "" + UpstreamConfig.DEFAULT_REQUEST_TIMEOUT_MS,
            description = "deadline of one request to an upstream server, first byte to last token "
                    + "(default: ${DEFAULT-VALUE})")
    long upstreamTimeoutMs;

    @Option(names = "--max-running",
            description = "engine sequences admitted at once (default: workers x --max-seqs)")
    Integer maxRunning;

    @Mixin
    EngineOptions engineOptions = new EngineOptions();

    @Option(names = "--mock", description = "simulated engines (timing model) instead of the real one; the model's "
            + "tokenizer is still used")
    boolean mock;

    @Option(names = "--mock-speedup", defaultValue = "1", description = "divides the mock's step times (default: ${DEFAULT-VALUE})")
    double mockSpeedup;

    /** KV pool per worker when neither --kv-blocks nor --kv-cache-memory is given. */
    static final String DEFAULT_KV_CACHE_MEMORY = "512MiB";

    /** Released when the process is asked to stop; tests release it directly. */
    final CountDownLatch stop = new CountDownLatch(1);
    /** Set once the deployment listens; read by tests. */
    volatile EmbeddedDeployment running;

    @Override
    public Integer call() throws InterruptedException {
        EmbeddedDeployment.Spec spec = spec();
        PrintStream out = System.out;
        EmbeddedDeployment deployment = EmbeddedDeployment.start(spec, split());
        AtomicBoolean stopped = new AtomicBoolean();
        Runnable shutdown = () -> {
            if (stopped.compareAndSet(false, true)) {
                deployment.close();
                out.println("Tandem stopped");
                out.flush();
            }
        };
        Thread hook = Thread.ofPlatform().name("tandem-serve-shutdown").unstarted(() -> {
            shutdown.run();
            stop.countDown();
        });
        Runtime.getRuntime().addShutdownHook(hook);
        running = deployment;
        if (deployment.prefillWorkerCount() > 0) {
            out.printf("Tandem is serving model '%s' with %d prefill + %d decode real workers (router: %s, KV transfer:"
                    + " %s)%n", deployment.modelName(), deployment.prefillWorkerCount(), deployment.decodeWorkerCount(),
                    deployment.routerName(), transfer);
        } else if (spec.upstreamDisaggregated()) {
            out.printf("Tandem is serving model '%s' from upstream servers: prefill %s, decode %s (vLLM NIXL "
                    + "disaggregation; router: %s)%n", deployment.modelName(), upstreamPrefills, upstreams,
                    deployment.routerName());
        } else if (spec.upstream()) {
            out.printf("Tandem is serving model '%s' from %d upstream server%s %s (router: %s)%n",
                    deployment.modelName(), deployment.workerCount(), deployment.workerCount() == 1 ? "" : "s",
                    upstreams, deployment.routerName());
        } else {
            out.printf("Tandem is serving model '%s' with %d %s worker%s (router: %s)%n", deployment.modelName(),
                    deployment.workerCount(), spec.mock() ? "mock" : "real", deployment.workerCount() == 1 ? "" : "s",
                    deployment.routerName());
        }
        out.printf("OpenAI API at %s/v1  (Ctrl-C to stop)%n", deployment.url());
        out.flush();
        stop.await();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // the JVM is shutting down: the hook runs (or ran) the same shutdown
        }
        shutdown.run();
        return 0;
    }

    EmbeddedDeployment.Spec spec() {
        if (engineOptions.kvBlocks == null && engineOptions.kvCacheMemory == null) {
            engineOptions.kvCacheMemory = DEFAULT_KV_CACHE_MEMORY;
        }
        EngineConfig engine = DispatchOptions.withHandleTtl(engineOptions.config(0), kvHandleTtl);
        int total = totalWorkers();
        int perWorker = engineOptions.threads != null ? engineOptions.threads()
                : Math.max(1, Runtime.getRuntime().availableProcessors() / Math.max(1, total));
        FrontendConfig frontend = http.config(maxRunning != null ? maxRunning : FrontendConfig.DEFAULT_MAX_RUNNING);
        List<UpstreamConfig> servers = upstreamConfigs(upstreams, upstreamKind, upstreamTimeoutMs);
        if (!servers.isEmpty() && workers != null) {
            throw new ConfigException("with --upstream each server is one worker: drop --workers");
        }
        List<UpstreamConfig> prefills = upstreamConfigs(upstreamPrefills, upstreamKind, upstreamTimeoutMs);
        String refusal = prefills.isEmpty() ? null : NixlEngine.refusal(UpstreamKind.parse(upstreamKind));
        if (refusal != null) {
            throw new ConfigException("--upstream-prefill with --upstream-kind " + upstreamKind + ": " + refusal);
        }
        return new EmbeddedDeployment.Spec(ModelPaths.resolve(model), servedName, workers == null ? 1 : workers,
                RouterConfig.PolicyKind.parse(router), mock, mockSpeedup, engine, perWorker, frontend, maxRunning == null,
                servers, prefills);
    }

    /** The servers named by repeated --upstream options, validated. */
    static List<UpstreamConfig> upstreamConfigs(List<String> urls, String kind, long requestTimeoutMs) {
        UpstreamKind k = UpstreamKind.parse(kind);
        List<UpstreamConfig> out = new ArrayList<>();
        for (String url : urls) {
            UpstreamConfig c = UpstreamConfig.of(url, k);
            out.add(c.withTimeouts(c.connectTimeoutMs(), c.headersTimeoutMs(), requestTimeoutMs));
        }
        return out;
    }

    /** Prefill and decode workers, or none (aggregated), with the dispatch settings. */
    EmbeddedDeployment.Split split() {
        boolean disaggregated = prefillWorkers != null || decodeWorkers != null;
        if (disaggregated && workers != null) {
            throw new ConfigException("give either --workers (aggregated) or --prefill-workers and --decode-workers "
                    + "(disaggregated), not both");
        }
        if (disaggregated && (prefillWorkers == null || decodeWorkers == null || prefillWorkers < 1
                || decodeWorkers < 1)) {
            throw new ConfigException("--prefill-workers and --decode-workers go together, each at least 1, got "
                    + prefillWorkers + " and " + decodeWorkers);
        }
        Set<TransferKind> kinds = WorkerCommand.transferKinds(transfer);
        if (kinds.contains(TransferKind.UCX)) {
            throw new ConfigException("--transfer ucx is for workers on RDMA hosts ('tandem worker'); in one JVM use "
                    + "local, shm or tcp");
        }
        return new EmbeddedDeployment.Split(disaggregated ? prefillWorkers : 0, disaggregated ? decodeWorkers : 0,
                kinds, disagg.dispatch(), transferTimeoutMs);
    }

    private int totalWorkers() {
        if (prefillWorkers != null || decodeWorkers != null) {
            return (prefillWorkers == null ? 0 : prefillWorkers) + (decodeWorkers == null ? 0 : decodeWorkers);
        }
        return workers == null ? 1 : workers;
    }
}
