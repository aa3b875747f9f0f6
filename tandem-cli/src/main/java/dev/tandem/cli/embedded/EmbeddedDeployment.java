package dev.tandem.cli.embedded;

import dev.tandem.core.ConfigException;
import dev.tandem.core.Engine;
import dev.tandem.core.TransferKind;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LoadedModel;
import dev.tandem.frontend.DispatchConfig;
import dev.tandem.frontend.FrontendConfig;
import dev.tandem.frontend.FrontendServer;
import dev.tandem.frontend.LocalModel;
import dev.tandem.frontend.RegistryWorkers;
import dev.tandem.frontend.RouterSelector;
import dev.tandem.frontend.Worker;
import dev.tandem.frontend.WorkerSet;
import dev.tandem.router.RouterConfig;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EmbeddedEventBus;
import dev.tandem.runtime.events.WorkerEventSubscriber;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.runtime.registry.EmbeddedRegistry;
import dev.tandem.runtime.registry.EmbeddedRegistryStore;
import dev.tandem.runtime.registry.RegistryWatch;
import dev.tandem.runtime.registry.WorkerSetTracker;
import dev.tandem.runtime.transfer.HostIdentity;
import dev.tandem.runtime.transfer.LocalPools;
import dev.tandem.runtime.transfer.TransferConfig;
import dev.tandem.worker.DisaggEngine;
import dev.tandem.worker.EngineSource;
import dev.tandem.worker.LocalWorker;
import dev.tandem.worker.PinReleaser;
import dev.tandem.worker.upstream.UpstreamConfig;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static dev.tandem.core.Closeables.closeQuietly;

/**
 * The whole system in one JVM ({@code tandem serve}): N {@link LocalWorker}s over one model (the
 * same assembly {@code tandem worker} runs, without its gRPC server), the embedded registry and
 * event bus, the KV-aware router and the OpenAI frontend, wired exactly as the distributed
 * deployment is, only without sockets between them.
 *
 * <pre>
 * worker i: engine ──KV events──▶ KvEventPublisher ──┐            registry (embedded)
 *           engine.load() ──────▶ LoadPublisher ─────┤ event bus     ▲ record under a lease
 *                                                    ▼ (embedded)    │
 * frontend: WorkerEventSubscriber ──▶ RouterSelector ◀── WorkerSet ◀── RegistryWorkers ◀── watch
 *           FrontendServer ── route ──▶ RouterSelector; submit ──▶ the worker's engine (in process)
 * </pre>
 *
 * <p>Closing stops things in dependency order: the frontend first (in-flight requests finish
 * within its grace period or are cancelled), then the registry watch and event subscription, then
 * each worker (deregistered, publishers stopped, engine closed), then the router, the bus, the
 * registry and the model file. Safe for concurrent use; {@link #close()} is idempotent.
 */
public final class EmbeddedDeployment implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(EmbeddedDeployment.class.getName());
    /** Where file-backed (shared-memory) pools live when the shm transport is chosen. */
    private static final Path SHM_DIR = Path.of("/dev/shm");
    /** The address in-process workers register: the frontend calls their engines directly. */
    static final String IN_PROCESS_ADDRESS = "in-process:1";
    /** Longest wait for the registry watch to deliver the workers at startup, ms. */
    private static final long JOIN_TIMEOUT_MS = 10_000;

    /**
     * What to start.
     *
     * @param modelFile        the GGUF model (its tokenizer is used even by mock workers)
     * @param servedName       the model name clients use, or null for the file name
     * @param workers          workers (engines) to start, >= 1
     * @param routerPolicy     the router's policy
     * @param mock             mock engines (simulated step times) instead of the real one
     * @param mockSpeedup      divides the mock's step times
     * @param engine           KV and batching settings of every worker
     * @param threadsPerWorker kernel threads per real worker
     * @param frontend         the frontend's settings
     * @param derivedMaxRunning replace {@code frontend.maxRunning} by workers x max sequences
     * @param upstreams        external servers, one worker each, instead of Tandem's engines
     *                         ({@code workers} is then their number, with the prefill servers); empty
     *                         for Tandem's own; decode workers when {@code upstreamPrefills} are given
     * @param upstreamPrefills external servers that prefill for the {@code upstreams} (vLLM's NIXL
     *                         disaggregation: one prefill worker each); empty for none
     */
    public record Spec(Path modelFile, String servedName, int workers, RouterConfig.PolicyKind routerPolicy,
                       boolean mock, double mockSpeedup, EngineConfig engine, int threadsPerWorker,
                       FrontendConfig frontend, boolean derivedMaxRunning, List<UpstreamConfig> upstreams,
                       List<UpstreamConfig> upstreamPrefills) {
        public Spec {
            upstreams = upstreams == null ? List.of() : List.copyOf(upstreams);
            upstreamPrefills = upstreamPrefills == null ? List.of() : List.copyOf(upstreamPrefills);
            if (!upstreamPrefills.isEmpty() && upstreams.isEmpty()) {
                throw new ConfigException("--upstream-prefill servers prefill for decode servers: name those with "
                        + "--upstream URL");
            }
            if (!upstreams.isEmpty()) {
                workers = upstreams.size() + upstreamPrefills.size();
                if (mock) {
                    throw new ConfigException("--upstream and --mock exclude each other");
                }
            }
            if (workers < 1) {
                throw new ConfigException("workers must be at least 1, got " + workers);
            }
            if (threadsPerWorker < 1) {
                throw new ConfigException("threads per worker must be at least 1, got " + threadsPerWorker);
            }
        }

        /** Workers running Tandem's own (or the mock) engine. */
        public Spec(Path modelFile, String servedName, int workers, RouterConfig.PolicyKind routerPolicy,
                    boolean mock, double mockSpeedup, EngineConfig engine, int threadsPerWorker,
                    FrontendConfig frontend, boolean derivedMaxRunning) {
            this(modelFile, servedName, workers, routerPolicy, mock, mockSpeedup, engine, threadsPerWorker, frontend,
                    derivedMaxRunning, List.of(), List.of());
        }

        public boolean upstream() {
            return !upstreams.isEmpty();
        }

        /** Whether external servers prefill for the others (vLLM's NIXL disaggregation). */
        public boolean upstreamDisaggregated() {
            return !upstreamPrefills.isEmpty();
        }
    }

    /**
     * Prefill and decode workers instead of aggregated ones (disaggregated serving in one JVM).
     *
     * @param prefillWorkers    prefill workers, 0 for an aggregated deployment
     * @param decodeWorkers     decode workers, 0 for an aggregated deployment; both or neither
     * @param transfer          KV transports between them (default local: a copy between pools;
     *                          shm and tcp work in one JVM too, for tests and measurements)
     * @param dispatch          when to prefill remotely, timeouts, migration limit
     * @param transferTimeoutMs deadline of one KV pull, ms
     */
    public record Split(int prefillWorkers, int decodeWorkers, Set<TransferKind> transfer, DispatchConfig dispatch,
                        long transferTimeoutMs) {
        /** Aggregated workers only (the {@link Spec}'s count), with the default dispatch settings. */
        public static final Split NONE = new Split(0, 0, Set.of(TransferKind.LOCAL), DispatchConfig.defaults(),
                DisaggEngine.DEFAULT_TRANSFER_TIMEOUT_MS);

        public Split {
            if (prefillWorkers < 0 || decodeWorkers < 0 || (prefillWorkers == 0) != (decodeWorkers == 0)) {
                throw new ConfigException("--prefill-workers and --decode-workers must both be at least 1 (or both "
                        + "absent), got " + prefillWorkers + " and " + decodeWorkers);
            }
            if (transfer == null || transfer.isEmpty()) {
                throw new ConfigException("at least one KV transport is needed (local, shm, tcp)");
            }
            transfer = Set.copyOf(transfer);
            if (dispatch == null) {
                throw new ConfigException("dispatch settings are missing");
            }
            if (transferTimeoutMs < 1) {
                throw new ConfigException("transfer timeout must be at least 1 ms, got " + transferTimeoutMs);
            }
        }

        public boolean disaggregated() {
            return prefillWorkers > 0;
        }
    }

    private final Spec spec;
    private final Split split;
    private final RuntimeConfig runtime = RuntimeConfig.defaults();
    private final DisaggMetrics disaggMetrics = new DisaggMetrics();
    private final PinReleaser releaser = new PinReleaser(runtime);
    /** Names this deployment's shared-memory pool files apart from other processes' (and other deployments'). */
    private final String poolPrefix = "tandem-kv-serve-" + ProcessHandle.current().pid() + "-"
            + Long.toString(System.nanoTime() & 0xffffff, 36) + "-";
    private LoadedModel model;
    private LocalModel text;
    private EngineSource engines;
    private final RouterSelector selector;
    private final EmbeddedRegistryStore store;
    private final EmbeddedRegistry registry;
    private final EmbeddedEventBus bus;
    private final WorkerSet workerSet = new WorkerSet();
    /** Workers by id, in start order. */
    private final Map<String, LocalWorker> workers = new ConcurrentHashMap<>();
    private final List<LocalWorker> started = new CopyOnWriteArrayList<>();
    /** One source per external server (empty unless the spec names upstreams). */
    private final List<EngineSource> upstreamSources = new CopyOnWriteArrayList<>();
    private WorkerEventSubscriber subscriber;
    private RegistryWatch watch;
    private FrontendServer frontend;
    private boolean closed;

    private EmbeddedDeployment(Spec spec, Split split) {
        this.spec = spec;
        this.split = split;
        if (split.disaggregated() && spec.upstream()) {
            throw new ConfigException("--prefill-workers and --decode-workers are Tandem's own engines: with --upstream "
                    + "servers, name the prefill servers with --upstream-prefill URL instead");
        }
        if (split.disaggregated() && spec.mock()) {
            throw new ConfigException("prefill and decode workers need real engines: mock engines hold no KV memory "
                    + "to transfer (drop --mock, or use --workers)");
        }
        this.selector = new RouterSelector(RouterConfig.defaults().withBlockSizeTokens(spec.engine().blockSizeTokens())
                .withPolicy(spec.routerPolicy()), new Random());
        this.store = EmbeddedRegistryStore.started(100);
        this.registry = new EmbeddedRegistry(store, runtime);
        this.bus = new EmbeddedEventBus(runtime.eventsQueueCapacity());
        try {
            this.model = LoadedModel.open(spec.modelFile(), spec.servedName());
            this.text = LocalModel.of(model);
            this.engines = spec.mock() ? EngineSource.mock(model, spec.mockSpeedup()) : EngineSource.model(model, false);
            int expected = split.disaggregated() ? split.prefillWorkers() + split.decodeWorkers() : spec.workers();
            CountDownLatch joined = startFrontendSide(expected);
            if (split.disaggregated()) {
                for (int i = 0; i < split.prefillWorkers(); i++) {
                    startWorker("prefill-" + i, WorkerRole.PREFILL);
                }
                for (int i = 0; i < split.decodeWorkers(); i++) {
                    startWorker("decode-" + i, WorkerRole.DECODE);
                }
            } else if (spec.upstream()) {
                WorkerRole role = spec.upstreamDisaggregated() ? WorkerRole.DECODE : WorkerRole.AGGREGATED;
                for (int i = 0; i < spec.upstreams().size(); i++) {
                    startUpstream("upstream-" + i, role, spec.upstreams().get(i));
                }
                for (int i = 0; i < spec.upstreamPrefills().size(); i++) {
                    startUpstream("upstream-prefill-" + i, WorkerRole.PREFILL, spec.upstreamPrefills().get(i));
                }
            } else {
                for (int i = 0; i < spec.workers(); i++) {
                    startWorker("worker-" + i, WorkerRole.AGGREGATED);
                }
            }
            awaitWorkers(joined, expected);
            FrontendConfig fc = spec.frontend();
            if (spec.derivedMaxRunning()) {
                fc = fc.withAdmission(servingWorkers() * spec.engine().maxSequences(), fc.maxQueued());
            }
            this.frontend = FrontendServer.start(fc, List.of(text.served()), workerSet, selector, split.dispatch(),
                    disaggMetrics, split.disaggregated() ? this::activePins : null);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Starts everything; returns once the frontend listens with every worker joined. */
    public static EmbeddedDeployment start(Spec spec) {
        return new EmbeddedDeployment(spec, Split.NONE);
    }

    /** As {@link #start(Spec)}, with prefill and decode workers when {@code split} asks for them. */
    public static EmbeddedDeployment start(Spec spec, Split split) {
        return new EmbeddedDeployment(spec, split);
    }

    /** Follows the registry into the router; the latch counts the workers that join. */
    private CountDownLatch startFrontendSide(int expected) {
        CountDownLatch joined = new CountDownLatch(expected);
        workerSet.addListener(selector);
        workerSet.addListener(new WorkerSet.Listener() {
            @Override
            public void added(Worker worker) {
                joined.countDown();
            }

            @Override
            public void removed(Worker worker) {
            }
        });
        subscriber = new WorkerEventSubscriber(bus, runtime.namespace(), selector);
        WorkerSetTracker tracker = new WorkerSetTracker(Map.of(model.name(), spec.engine().blockSizeTokens()),
                new RegistryWorkers(workerSet, record -> {
                    LocalWorker w = workers.get(record.instanceId());
                    return w == null ? null : w.served();
                }));
        watch = registry.watchInstances(tracker);
        return joined;
    }

    private void startWorker(String id, WorkerRole role) {
        startWorker(id, role, engines);
    }

    /** A worker adapting an external server; in role prefill or decode it runs vLLM's NIXL legs. */
    private void startUpstream(String id, WorkerRole role, UpstreamConfig server) {
        EngineSource source = EngineSource.upstream(model, false, server, null);
        upstreamSources.add(source);
        LocalWorker.Disaggregation disaggregation = role == WorkerRole.AGGREGATED ? null
                : new LocalWorker.Disaggregation(transferConfig(), LocalPools.shared(), releaser, disaggMetrics,
                        split.transferTimeoutMs());
        startWorker(id, role, source, disaggregation, null);
    }

    private void startWorker(String id, WorkerRole role, EngineSource source) {
        LocalWorker.Disaggregation disaggregation = null;
        Path poolFile = null;
        if (split.disaggregated()) {
            disaggregation = new LocalWorker.Disaggregation(transferConfig(), LocalPools.shared(), releaser,
                    disaggMetrics, split.transferTimeoutMs());
            poolFile = split.transfer().contains(TransferKind.SHM) ? SHM_DIR.resolve(poolPrefix + id + ".pool") : null;
        }
        startWorker(id, role, source, disaggregation, poolFile);
    }

    private void startWorker(String id, WorkerRole role, EngineSource source,
                             LocalWorker.Disaggregation disaggregation, Path poolFile) {
        LocalWorker w = LocalWorker.start(new LocalWorker.Spec(id, role, spec.engine(), spec.threadsPerWorker(),
                poolFile), source, disaggregation, bus, runtime);
        started.add(w);
        workers.put(id, w);
        w.register(registry, IN_PROCESS_ADDRESS, HostIdentity.local());
    }

    /** Transfer between the workers of this JVM: listeners on loopback only. */
    private TransferConfig transferConfig() {
        return new TransferConfig(split.transfer(), "127.0.0.1", 0, 0, "127.0.0.1", HostIdentity.local());
    }

    /** Workers that take whole requests: aggregated ones, or the decode ones. */
    private int servingWorkers() {
        return split.disaggregated() ? split.decodeWorkers()
                : spec.upstreamDisaggregated() ? spec.upstreams().size() : spec.workers();
    }

    private int activePins() {
        int n = 0;
        for (LocalWorker w : started) {
            n += w.activePins();
        }
        return n;
    }

    private void awaitWorkers(CountDownLatch joined, int expected) {
        try {
            if (!joined.await(JOIN_TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
                throw new ConfigException("only " + workerSet.all().size() + " of " + expected
                        + " workers joined within " + JOIN_TIMEOUT_MS + " ms");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ConfigException("interrupted while the workers were joining");
        }
    }

    public String url() {
        return frontend.url();
    }

    public int port() {
        return frontend.port();
    }

    public String modelName() {
        return model.name();
    }

    public String routerName() {
        return spec.routerPolicy().configName();
    }

    public int workerCount() {
        return workers.size();
    }

    public FrontendServer frontend() {
        return frontend;
    }

    public RouterSelector router() {
        return selector;
    }

    /** The worker {@code id}, or null. */
    public LocalWorker worker(String id) {
        return workers.get(id);
    }

    /** The engine of worker {@code worker-i}. */
    public Engine engine(int i) {
        return engine("worker-" + i);
    }

    /** The engine of worker {@code id} ({@code worker-i}, {@code prefill-i} or {@code decode-i}), or null. */
    public Engine engine(String id) {
        LocalWorker w = workers.get(id);
        return w == null ? null : w.served();
    }

    /** Prefill or decode worker {@code id} with its disaggregation sides, or null. */
    public DisaggEngine disaggEngine(String id) {
        LocalWorker w = workers.get(id);
        return w == null ? null : w.disaggEngine();
    }

    /** Disaggregation counters of the whole deployment (frontend and workers). */
    public DisaggMetrics disaggMetrics() {
        return disaggMetrics;
    }

    /** Prefill workers, 0 when aggregated. */
    public int prefillWorkerCount() {
        return split.prefillWorkers();
    }

    /** Decode workers, 0 when aggregated. */
    public int decodeWorkerCount() {
        return split.decodeWorkers();
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        LOG.log(System.Logger.Level.DEBUG, "shutting down: frontend, then {0} workers", started.size());
        closeQuietly(frontend, LOG);
        closeQuietly(watch, LOG);
        closeQuietly(subscriber, LOG);
        // each worker deregisters, stops its publishers, then its engine: reverse order of start
        for (int i = started.size() - 1; i >= 0; i--) {
            closeQuietly(started.get(i), LOG);
        }
        closeQuietly(releaser, LOG);
        closeQuietly(selector, LOG);
        closeQuietly(bus, LOG);
        closeQuietly(registry, LOG);
        closeQuietly(store, LOG);
        closeQuietly(engines, LOG);
        upstreamSources.forEach(s -> closeQuietly(s, LOG));
        closeQuietly(text, LOG);
        closeQuietly(model, LOG);
    }
}
