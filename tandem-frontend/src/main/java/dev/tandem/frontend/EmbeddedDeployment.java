package dev.tandem.frontend;

import dev.tandem.core.ConfigException;
import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.router.RouterConfig;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EmbeddedEventBus;
import dev.tandem.runtime.events.KvEventPublisher;
import dev.tandem.runtime.events.LoadPublisher;
import dev.tandem.runtime.events.WorkerEventSubscriber;
import dev.tandem.runtime.registry.EmbeddedRegistry;
import dev.tandem.runtime.registry.EmbeddedRegistryStore;
import dev.tandem.runtime.registry.Registration;
import dev.tandem.runtime.registry.RegistryWatch;
import dev.tandem.runtime.registry.WorkerSetTracker;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.runtime.transfer.HostIdentity;
import dev.tandem.runtime.transfer.LocalPools;
import dev.tandem.runtime.transfer.TransferConfig;
import dev.tandem.worker.DisaggEngine;
import dev.tandem.worker.DisaggMetrics;
import dev.tandem.worker.PinReleaser;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The whole system in one JVM ({@code tandem serve}): N workers over one model, the embedded
 * registry and event bus, the KV-aware router and the OpenAI frontend, wired exactly as the
 * distributed deployment is, only without sockets between them.
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
     */
    public record Spec(Path modelFile, String servedName, int workers, RouterConfig.PolicyKind routerPolicy,
                       boolean mock, double mockSpeedup, EngineConfig engine, int threadsPerWorker,
                       FrontendConfig frontend, boolean derivedMaxRunning) {
        public Spec {
            if (workers < 1) {
                throw new ConfigException("workers must be at least 1, got " + workers);
            }
            if (threadsPerWorker < 1) {
                throw new ConfigException("threads per worker must be at least 1, got " + threadsPerWorker);
            }
            if (routerPolicy == RouterConfig.PolicyKind.DIRECT) {
                throw new ConfigException("the direct router policy needs a target worker per request; use kv, "
                        + "round-robin, random, least-loaded or session-affinity");
            }
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
    private final Map<String, DisaggEngine> disaggEngines = new ConcurrentHashMap<>();
    /** Names this deployment's shared-memory pool files apart from other processes' (and other deployments'). */
    private final String poolPrefix = "tandem-kv-serve-" + ProcessHandle.current().pid() + "-"
            + Long.toString(System.nanoTime() & 0xffffff, 36) + "-";
    private LocalModel model;
    private final RouterSelector selector;
    private final EmbeddedRegistryStore store;
    private final EmbeddedRegistry registry;
    private final EmbeddedEventBus bus;
    private final WorkerSet workerSet = new WorkerSet();
    private final Map<String, Engine> localEngines = new ConcurrentHashMap<>();
    private final List<AutoCloseable> workerParts = new ArrayList<>();
    private WorkerEventSubscriber subscriber;
    private RegistryWatch watch;
    private FrontendServer frontend;
    private boolean closed;

    private EmbeddedDeployment(Spec spec, Split split) {
        this.spec = spec;
        this.split = split;
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
            this.model = LocalModel.open(spec.modelFile(), spec.servedName());
            startFrontendSide();
            if (split.disaggregated()) {
                for (int i = 0; i < split.prefillWorkers(); i++) {
                    startWorker("prefill-" + i, WorkerRole.PREFILL);
                }
                for (int i = 0; i < split.decodeWorkers(); i++) {
                    startWorker("decode-" + i, WorkerRole.DECODE);
                }
            } else {
                for (int i = 0; i < spec.workers(); i++) {
                    startWorker("worker-" + i, WorkerRole.AGGREGATED);
                }
            }
            awaitWorkers();
            FrontendConfig fc = spec.frontend();
            if (spec.derivedMaxRunning()) {
                fc = fc.withAdmission(servingWorkers() * spec.engine().maxSequences(), fc.maxQueued());
            }
            this.frontend = FrontendServer.start(fc, List.of(model.served()), workerSet, selector, split.dispatch(),
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

    private void startFrontendSide() {
        workerSet.addListener(selector);
        subscriber = new WorkerEventSubscriber(bus, runtime.namespace(), selector);
        WorkerSetTracker tracker = new WorkerSetTracker(Map.of(model.name(), spec.engine().blockSizeTokens()),
                new RegistryWorkers(workerSet, record -> localEngines.get(record.instanceId())));
        watch = registry.watchInstances(tracker);
    }

    private void startWorker(String id, WorkerRole role) {
        Engine engine;
        List<TransferEndpoint> endpoints = List.of();
        if (spec.mock()) {
            engine = startMock();
        } else if (split.disaggregated()) {
            Path poolFile = split.transfer().contains(TransferKind.SHM) ? SHM_DIR.resolve(poolPrefix + id + ".pool")
                    : null;
            DisaggEngine d = DisaggEngine.start(id, model.startEngine(spec.engine(), threadsPerWorker(), poolFile),
                    transferConfig(), LocalPools.shared(), releaser, disaggMetrics, split.transferTimeoutMs());
            disaggEngines.put(id, d);
            endpoints = d.endpoints();
            engine = d;
        } else {
            engine = model.startEngine(spec.engine(), threadsPerWorker());
        }
        localEngines.put(id, engine);
        workerParts.add(engine);
        KvEventPublisher events = new KvEventPublisher(bus, id, runtime);
        workerParts.add(events);
        workerParts.add(engine.subscribe(events));
        workerParts.add(new LoadPublisher(bus, id, engine::load, runtime));
        EngineInfo info = engine.info();
        Registration registration = registry.register(new WorkerRecord(id, role, info.modelName(),
                "in-process:1", info.layout(), info.totalBlocks(), info.maxBatchTokens(), endpoints,
                HostIdentity.local()));
        workerParts.add(registration);
    }

    private int threadsPerWorker() {
        return spec.threadsPerWorker();
    }

    /** Transfer between the workers of this JVM: listeners on loopback only. */
    private TransferConfig transferConfig() {
        return new TransferConfig(split.transfer(), "127.0.0.1", 0, 0, "127.0.0.1", HostIdentity.local());
    }

    /** Workers that take whole requests: aggregated ones, or the decode ones. */
    private int servingWorkers() {
        return split.disaggregated() ? split.decodeWorkers() : spec.workers();
    }

    private int activePins() {
        int n = 0;
        for (DisaggEngine d : disaggEngines.values()) {
            n += d.activePins();
        }
        return n;
    }

    private Engine startMock() {
        MockConfig mc = MockConfig.DEFAULT.withModelName(model.name())
                .withVocabSize(model.served().text().vocabSize())
                .withContextLength(model.config().contextLength())
                .withEngine(spec.engine().kvBlocks() > 0 ? spec.engine()
                        : spec.engine().withKvBlocks(MockConfig.DEFAULT_KV_BLOCKS))
                .withTiming(spec.engine().mockTiming().withSpeedup(spec.mockSpeedup()));
        return MockEngine.start(mc);
    }

    private void awaitWorkers() {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(JOIN_TIMEOUT_MS);
        int expected = split.disaggregated() ? split.prefillWorkers() + split.decodeWorkers() : spec.workers();
        while (workerSet.all().size() < expected) {
            if (System.nanoTime() > deadline) {
                throw new ConfigException("only " + workerSet.all().size() + " of " + expected
                        + " workers joined within " + JOIN_TIMEOUT_MS + " ms");
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ConfigException("interrupted while the workers were joining");
            }
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
        return localEngines.size();
    }

    public FrontendServer frontend() {
        return frontend;
    }

    public RouterSelector router() {
        return selector;
    }

    /** The engine of worker {@code worker-i}. */
    public Engine engine(int i) {
        return localEngines.get("worker-" + i);
    }

    /** The engine of worker {@code id} ({@code worker-i}, {@code prefill-i} or {@code decode-i}), or null. */
    public Engine engine(String id) {
        return localEngines.get(id);
    }

    /** Prefill or decode worker {@code id} with its disaggregation sides, or null. */
    public DisaggEngine disaggEngine(String id) {
        return disaggEngines.get(id);
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
        LOG.log(System.Logger.Level.DEBUG, "shutting down: frontend, then {0} workers", localEngines.size());
        closeQuietly(frontend);
        closeQuietly(watch);
        closeQuietly(subscriber);
        // deregister first, then stop publishers, then engines: reverse order of start
        for (int i = workerParts.size() - 1; i >= 0; i--) {
            closeQuietly(workerParts.get(i));
        }
        closeQuietly(releaser);
        closeQuietly(selector);
        closeQuietly(bus);
        closeQuietly(registry);
        closeQuietly(store);
        closeQuietly(model);
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception e) {
            LOG.log(System.Logger.Level.WARNING, "closing " + c.getClass().getSimpleName() + " failed", e);
        }
    }
}
