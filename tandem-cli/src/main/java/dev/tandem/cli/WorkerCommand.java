package dev.tandem.cli;

import dev.tandem.core.ConfigException;
import dev.tandem.core.TransferKind;
import dev.tandem.core.WorkerRole;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EventBus;
import dev.tandem.runtime.registry.Registry;
import dev.tandem.worker.DisaggEngine;
import dev.tandem.worker.DisaggOptions;
import dev.tandem.worker.WorkerProcess;
import dev.tandem.worker.WorkerSpec;
import dev.tandem.runtime.kvevents.VllmKvEventSubscriber;
import dev.tandem.worker.upstream.UpstreamConfig;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tandem worker}: one engine in this process, served on the request plane, registered in
 * etcd under a lease and reporting KV events and load on NATS. Runs until Ctrl-C or SIGTERM,
 * then leaves the registry, drains and stops.
 */
@Command(name = "worker", mixinStandardHelpOptions = true,
        description = {"Run one worker: an engine served over gRPC, registered in etcd (under a lease),",
            "KV events and load reports on NATS. Frontends started with 'tandem frontend' find it.",
            "Stop with Ctrl-C: it deregisters first, then lets running requests finish (--drain-timeout-ms).",
            "With --upstream URL it adapts an external server instead of running an engine (a sidecar):",
            "  tandem worker --upstream http://127.0.0.1:8081 --model stories260K --registry etcd://127.0.0.1:2379 \\",
            "      --events nats://127.0.0.1:4222",
            "It leaves the registry while the server does not answer and comes back when it does.",
            "With --role prefill or decode, the server must be vLLM with the NixlConnector",
            "(or a server speaking its protocol, --upstream-kind openai): a prefill worker",
            "returns vLLM's kv_transfer_params in its handle, a decode worker passes them",
            "on so its server reads the blocks from its peer. llama-server and SGLang",
            "(whose prefill/decode protocol is its own) are refused in those roles."})
final class WorkerCommand implements Callable<Integer> {
    @Option(names = "--role", defaultValue = "aggregated",
            description = "aggregated, prefill or decode; with --upstream, prefill and decode need a vLLM server "
                    + "with the NixlConnector (default: ${DEFAULT-VALUE})")
    String role;

    @Option(names = "--model", description = "a .gguf file, or a model name found in TANDEM_MODEL_PATH"
            + " (default: " + ModelPaths.DEFAULT_MODEL + ")")
    String model;

    @Option(names = "--served-model-name", description = "the name clients use (default: the file name)")
    String servedName;

    @Option(names = "--registry", required = true, description = "etcd://host:port[,host:port...] (or memory://name in one JVM)")
    String registry;

    @Option(names = "--events", required = true, description = "nats://host:port[,host:port...] (or memory://name in one JVM)")
    String events;

    @Option(names = "--namespace", description = "deployment namespace in the registry and on the event plane"
            + " (default: " + RuntimeConfig.DEFAULT_NAMESPACE + ")")
    String namespace;

    @Option(names = "--rpc-port", defaultValue = "0", description = "request-plane port, 0 for any free one (default: ${DEFAULT-VALUE})")
    int rpcPort;

    @Option(names = "--rpc-host", defaultValue = WorkerSpec.DEFAULT_BIND_HOST,
            description = "address the request plane and KV transfer bind (default: ${DEFAULT-VALUE})")
    String rpcHost;

    @Option(names = "--advertise", defaultValue = WorkerSpec.DEFAULT_ADVERTISE_HOST,
            description = "host or address other processes use to reach this worker (default: ${DEFAULT-VALUE};"
                    + " set it when frontends run on other hosts)")
    String advertise;

    @Option(names = "--instance-id", description = "id in the registry (default: <role>-<pid>-<random>)")
    String instanceId;

    @Option(names = "--lease-ttl-ms", description = "registration lease TTL; a crashed worker disappears within it"
            + " (default: " + RuntimeConfig.DEFAULT_LEASE_TTL_MS + ")")
    Long leaseTtlMs;

    @Option(names = "--transfer", defaultValue = "local,shm,tcp",
            description = "KV transports to serve: local, shm, tcp, ucx (default: ${DEFAULT-VALUE})")
    String transfer;

    @Option(names = "--drain-timeout-ms", defaultValue = "" + WorkerSpec.DEFAULT_DRAIN_TIMEOUT_MS,
            description = "on shutdown, how long running requests may finish before they are cancelled (default: ${DEFAULT-VALUE})")
    long drainTimeoutMs;

    @Option(names = "--mock", description = "SIMULATED engine (mock timing model, no model computation) instead of "
            + "the real one; for routing and load tests")
    boolean mock;

    @Option(names = "--mock-speedup", defaultValue = "1", description = "divides the mock's step times (default: ${DEFAULT-VALUE})")
    double mockSpeedup;

    @Option(names = "--upstream", paramLabel = "URL", description = "adapt this external server (llama-server, vLLM, "
            + "SGLang, OpenAI-compatible) instead of running an engine; --model must be the model it serves")
    String upstream;

    @Option(names = "--upstream-kind", defaultValue = "auto", description = "auto, llama-server, vllm, sglang or "
            + "openai (default: ${DEFAULT-VALUE})")
    String upstreamKind;

    @Option(names = "--upstream-timeout-ms", defaultValue = "" + UpstreamConfig.DEFAULT_REQUEST_TIMEOUT_MS,
            description = "deadline of one request to the upstream server (default: ${DEFAULT-VALUE})")
    long upstreamTimeoutMs;

    @Option(names = "--kv-events", paramLabel = "tcp://HOST:PORT", description = "with --upstream: the server's "
            + "KV event publisher (vLLM or SGLang --kv-events-config, publisher zmq); the router then follows the "
            + "server's cache exactly instead of guessing it. Give --block-size the server's block size (vLLM: 16)")
    String kvEvents;

    @Option(names = "--kv-events-replay", paramLabel = "tcp://HOST:PORT", description = "with --kv-events: the "
            + "publisher's replay endpoint, asked for missed events after a gap (default: none; a gap then clears "
            + "and re-learns)")
    String kvEventsReplay;

    @Mixin
    EngineOptions engineOptions = new EngineOptions();

    @Option(names = "--kv-handle-ttl", description = "prefill workers: how long a prompt's blocks stay pinned for "
            + "the decode worker if it never releases them, e.g. 30s (default: "
            + dev.tandem.engine.EngineConfig.DEFAULT_PIN_TTL_MS + " ms)")
    String kvHandleTtl;

    @Option(names = "--transfer-timeout-ms", defaultValue = "" + DisaggEngine.DEFAULT_TRANSFER_TIMEOUT_MS,
            description = "decode workers: deadline of one KV pull from a prefill worker (default: ${DEFAULT-VALUE})")
    long transferTimeoutMs;

    @Option(names = "--metrics-port", defaultValue = "-1",
            description = "serve GET /metrics (Prometheus) on this port, 0 for any free one (default: off)")
    int metricsPort;

    @Option(names = "--connect-timeout-ms", defaultValue = "30000",
            description = "how long to keep trying to reach etcd and NATS at startup (default: ${DEFAULT-VALUE})")
    long connectTimeoutMs;

    /** Released to stop (tests); Ctrl-C and SIGTERM stop it too. */
    final Foreground foreground = new Foreground();
    /** Set once the worker is registered; read by tests. */
    volatile WorkerProcess running;

    @Override
    public Integer call() throws InterruptedException {
        WorkerSpec spec = spec();
        RuntimeConfig runtime = runtimeConfig(namespace, leaseTtlMs);
        warnIfUnreachable(spec.advertiseHost(), registry);
        Registry reg = RuntimeUrls.registry(registry, runtime, connectTimeoutMs);
        EventBus bus;
        WorkerProcess worker;
        try {
            bus = RuntimeUrls.events(events, "tandem-worker-" + spec.instanceId(), runtime, connectTimeoutMs);
            try {
                worker = WorkerProcess.start(spec, new DisaggOptions(transferTimeoutMs, metricsPort), runtime, reg, bus);
            } catch (RuntimeException e) {
                bus.close();
                throw e;
            }
        } catch (RuntimeException e) {
            reg.close();
            throw e;
        }
        running = worker;
        PrintStream out = System.out;
        out.printf("Tandem worker %s serving model '%s' as %s with a %s engine at %s%n", spec.instanceId(),
                worker.record().modelName(), spec.role().name().toLowerCase(Locale.ROOT),
                spec.upstream() != null ? "upstream (" + spec.upstream().baseUri() + ")"
                        : worker.engine().info().simulated() ? "SIMULATED (mock)" : "real", worker.record().rpcAddress());
        out.printf("Registered in %s (namespace %s, lease %d ms); events on %s  (Ctrl-C to stop)%n", registry,
                runtime.namespace(), runtime.leaseTtlMs(), events);
        if (worker.metricsPort() >= 0) {
            out.printf("Metrics at http://%s:%d/metrics%n", spec.advertiseHost(), worker.metricsPort());
        }
        out.flush();
        foreground.run("worker", List.of(worker, bus, reg), "Tandem worker " + spec.instanceId() + " stopped");
        return 0;
    }

    WorkerSpec spec() {
        if (engineOptions.kvBlocks == null && engineOptions.kvCacheMemory == null) {
            engineOptions.kvCacheMemory = ServeCommand.DEFAULT_KV_CACHE_MEMORY;
        }
        // cheap checks first: resolving the model may download it
        WorkerRole r = WorkerRole.parse(role);
        Set<TransferKind> kinds = transferKinds(transfer);
        return new WorkerSpec(instanceId != null ? instanceId : WorkerSpec.defaultInstanceId(r), r,
                ModelPaths.resolve(model), servedName, mock, mockSpeedup,
                DispatchOptions.withHandleTtl(engineOptions.config(0), kvHandleTtl),
                engineOptions.threads(), rpcHost, rpcPort, advertise, kinds, drainTimeoutMs,
                upstreamConfig());
    }

    /** The adapted server's settings, with its KV event publisher when given; null without --upstream. */
    private UpstreamConfig upstreamConfig() {
        if (upstream == null) {
            if (kvEvents != null || kvEventsReplay != null) {
                throw new ConfigException("--kv-events and --kv-events-replay need --upstream (a built-in engine "
                        + "publishes its own KV events)");
            }
            return null;
        }
        if (kvEvents == null && kvEventsReplay != null) {
            throw new ConfigException("--kv-events-replay needs --kv-events");
        }
        UpstreamConfig c = ServeCommand.upstreamConfigs(List.of(upstream), upstreamKind, upstreamTimeoutMs).getFirst();
        return kvEvents == null ? c : c.withKvEvents(VllmKvEventSubscriber.Config.of(kvEvents, kvEventsReplay));
    }

    /** The runtime configuration (system properties and environment) with the command's overrides. */
    static RuntimeConfig runtimeConfig(String namespace, Long leaseTtlMs) {
        RuntimeConfig c = RuntimeUrls.config();
        if (namespace != null) {
            c = c.withNamespace(namespace);
        }
        if (leaseTtlMs != null) {
            c = c.withLeaseTtlMs(leaseTtlMs);
        }
        return c;
    }

    static Set<TransferKind> transferKinds(String text) {
        Set<TransferKind> kinds = EnumSet.noneOf(TransferKind.class);
        for (String part : text.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            TransferKind kind = null;
            for (TransferKind k : TransferKind.values()) {
                if (!k.movedByEngines() && k.label().equalsIgnoreCase(p)) {
                    kind = k;
                }
            }
            if (kind == null) {
                throw new ConfigException("--transfer: unknown KV transport '" + p + "' (expected local, shm, tcp or ucx)");
            }
            kinds.add(kind);
        }
        return kinds;
    }

    /** A loopback advertise address with a registry on another host cannot work: say so at once. */
    private static void warnIfUnreachable(String advertise, String registryUrl) {
        if (!isLoopback(advertise)) {
            return;
        }
        for (String part : registryUrl.split(",")) {
            String hostPort = part.trim().replaceFirst("^[a-z]+://", "");
            int colon = hostPort.lastIndexOf(':');
            String host = colon > 0 ? hostPort.substring(0, colon) : hostPort;
            if (!host.isEmpty() && !part.trim().startsWith("memory://") && !isLoopback(host)) {
                System.getLogger(WorkerCommand.class.getName()).log(System.Logger.Level.WARNING,
                        "this worker advertises {0}, but the registry is at {1}: processes on other hosts cannot reach "
                                + "it; pass --advertise with an address they can reach", advertise, host);
                return;
            }
        }
    }

    private static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host.replace("[", "").replace("]", "")).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
