package dev.tandem.frontend;

import dev.tandem.core.ConfigException;
import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.mock.TimingProfile;
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
import dev.tandem.runtime.transfer.HostIdentity;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
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

    private final Spec spec;
    private final RuntimeConfig runtime = RuntimeConfig.defaults();
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

    private EmbeddedDeployment(Spec spec) {
        this.spec = spec;
        this.selector = new RouterSelector(RouterConfig.defaults().withBlockSizeTokens(spec.engine().blockSizeTokens())
                .withPolicy(spec.routerPolicy()), new Random());
        this.store = EmbeddedRegistryStore.started(100);
        this.registry = new EmbeddedRegistry(store, runtime);
        this.bus = new EmbeddedEventBus(runtime.eventsQueueCapacity());
        try {
            this.model = LocalModel.open(spec.modelFile(), spec.servedName());
            startFrontendSide();
            for (int i = 0; i < spec.workers(); i++) {
                startWorker("worker-" + i);
            }
            awaitWorkers();
            FrontendConfig fc = spec.frontend();
            if (spec.derivedMaxRunning()) {
                fc = fc.withAdmission(spec.workers() * spec.engine().maxSequences(), fc.maxQueued());
            }
            this.frontend = FrontendServer.start(fc, List.of(model.served()), workerSet, selector);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Starts everything; returns once the frontend listens with every worker joined. */
    public static EmbeddedDeployment start(Spec spec) {
        return new EmbeddedDeployment(spec);
    }

    private void startFrontendSide() {
        workerSet.addListener(selector);
        subscriber = new WorkerEventSubscriber(bus, runtime.namespace(), selector);
        WorkerSetTracker tracker = new WorkerSetTracker(Map.of(model.name(), spec.engine().blockSizeTokens()),
                new RegistryWorkers(workerSet, record -> localEngines.get(record.instanceId())));
        watch = registry.watchInstances(tracker);
    }

    private void startWorker(String id) {
        Engine engine = spec.mock() ? startMock() : model.startEngine(spec.engine(), spec.threadsPerWorker());
        localEngines.put(id, engine);
        workerParts.add(engine);
        KvEventPublisher events = new KvEventPublisher(bus, id, runtime);
        workerParts.add(events);
        workerParts.add(engine.subscribe(events));
        workerParts.add(new LoadPublisher(bus, id, engine::load, runtime));
        EngineInfo info = engine.info();
        Registration registration = registry.register(new WorkerRecord(id, WorkerRole.AGGREGATED, info.modelName(),
                "in-process:1", info.layout(), info.totalBlocks(), info.maxBatchTokens(), List.of(), HostIdentity.local()));
        workerParts.add(registration);
    }

    private Engine startMock() {
        MockConfig mc = MockConfig.DEFAULT.withModelName(model.name())
                .withVocabSize(model.served().text().vocabSize())
                .withContextLength(model.config().contextLength())
                .withEngine(spec.engine().kvBlocks() > 0 ? spec.engine()
                        : spec.engine().withKvBlocks(MockConfig.DEFAULT_KV_BLOCKS))
                .withTiming(TimingProfile.DYNAMO.withSpeedup(spec.mockSpeedup()));
        return MockEngine.start(mc);
    }

    private void awaitWorkers() {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(JOIN_TIMEOUT_MS);
        while (workerSet.servingModel(model.name()).size() < spec.workers()) {
            if (System.nanoTime() > deadline) {
                throw new ConfigException("only " + workerSet.servingModel(model.name()).size() + " of "
                        + spec.workers() + " workers joined within " + JOIN_TIMEOUT_MS + " ms");
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
