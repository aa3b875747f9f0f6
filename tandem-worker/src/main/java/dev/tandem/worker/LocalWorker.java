package dev.tandem.worker;

import dev.tandem.core.ConfigException;
import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EventBus;
import dev.tandem.runtime.events.KvEventPublisher;
import dev.tandem.runtime.events.LoadPublisher;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.runtime.registry.Registration;
import dev.tandem.runtime.registry.Registry;
import dev.tandem.runtime.rpc.PrefillService;
import dev.tandem.runtime.transfer.LocalPools;
import dev.tandem.runtime.transfer.TransferConfig;
import dev.tandem.worker.upstream.NixlEngine;
import dev.tandem.worker.upstream.UpstreamEngine;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

import static java.lang.System.Logger.Level.WARNING;
import static dev.tandem.core.Closeables.closeQuietly;

/**
 * One worker assembled in this JVM, the one way a worker is built: an engine from an
 * {@link EngineSource}, optionally the disaggregation sides ({@link DisaggEngine}: prefill for
 * peers, imports, the transfer plane), the KV event and load publishers, and the registry record.
 * {@code tandem worker} ({@link WorkerProcess}) is one of them plus the gRPC request plane;
 * {@code tandem serve} runs N of them next to a frontend that calls their engines directly.
 *
 * <pre>
 * EngineSource ─▶ engine ─(DisaggEngine: TransferPlane, PrefillServer, KvImporter)─▶ served()
 *                 served() ─KV events─▶ KvEventPublisher ─▶ event bus  tandem.{ns}.kv.{id}
 *                 served().load() ───▶ LoadPublisher ────▶ event bus  tandem.{ns}.load.{id}
 * register(...):  WorkerRecord ──────▶ Registration ─────▶ registry   tandem/v1/instances/{ns}/{role}/{id}
 * </pre>
 *
 * <p>Start-up goes inside out (engine, transfer plane, publishers; the record last, when the
 * caller knows the worker's address), shutdown the other way: {@link #deregister()} first, so
 * routers stop choosing it, then {@link #close()} stops the publishers and the engine. The
 * registry and the event bus belong to the caller.
 *
 * <p>Start and close on one lifecycle thread; the accessors are safe for concurrent use.
 */
public final class LocalWorker implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(LocalWorker.class.getName());

    /**
     * What one worker runs.
     *
     * @param id       the worker's id in the registry and on the event plane
     * @param role     which pool routers take it from
     * @param engine   KV cache and batching settings
     * @param threads  kernel threads of a computing engine, &gt;= 1
     * @param poolFile where its KV pool lives so same-host peers can map it, or null
     */
    public record Spec(String id, WorkerRole role, EngineConfig engine, int threads, Path poolFile) {
        public Spec {
            if (id == null || !WorkerRecord.ID_PATTERN.matcher(id).matches()) {
                throw new ConfigException("worker id '" + id + "' must be 1..128 letters, digits, '_' or '-'");
            }
            Objects.requireNonNull(role, "role");
            Objects.requireNonNull(engine, "engine");
            if (threads < 1) {
                throw new ConfigException("threads must be at least 1, got " + threads);
            }
        }
    }

    /**
     * How a worker takes part in disaggregated serving (shared by the workers of one JVM).
     *
     * @param transfer          transports to serve and pull with, listener addresses
     * @param pools             the JVM's hub for the local transport
     * @param releaser          how the worker releases peers' pins after pulling
     * @param metrics           where disaggregation counters go
     * @param transferTimeoutMs deadline of one pull, ms, &gt; 0
     */
    public record Disaggregation(TransferConfig transfer, LocalPools pools, PinReleaser releaser,
                                 DisaggMetrics metrics, long transferTimeoutMs) {
        public Disaggregation {
            Objects.requireNonNull(transfer, "transfer");
            Objects.requireNonNull(pools, "pools");
            Objects.requireNonNull(releaser, "releaser");
            Objects.requireNonNull(metrics, "metrics");
        }
    }

    private final Spec spec;
    private final Engine engine;
    private final DisaggEngine disagg;
    /** The engine requests go to: the engine, or it with the disaggregation sides. */
    private final Engine served;
    private final KvEventPublisher kvEvents;
    private final AutoCloseable subscription;
    private final LoadPublisher load;
    private final AutoCloseable liveness;
    private volatile Registration registration;
    private volatile WorkerRecord record;
    /** Where {@link #register} announced the worker, to announce it again after an upstream outage. */
    private Registry registeredIn;
    private boolean closed;

    private LocalWorker(Spec spec, Engine engine, DisaggEngine disagg, NixlEngine nixl, EventBus bus,
                        RuntimeConfig runtime) {
        this.spec = spec;
        this.engine = engine;
        this.disagg = disagg;
        this.served = disagg != null ? disagg : nixl != null ? nixl : engine;
        this.kvEvents = new KvEventPublisher(bus, spec.id(), runtime);
        AutoCloseable sub;
        try {
            sub = served.subscribe(kvEvents);
        } catch (RuntimeException e) {
            kvEvents.close();
            throw e;
        }
        this.subscription = sub;
        this.load = new LoadPublisher(bus, spec.id(), served::load, runtime);
        // an external server that stops answering leaves the registry until it answers again
        this.liveness = engine instanceof UpstreamEngine upstream ? upstream.onLiveness(this::upstreamAlive) : null;
    }

    private synchronized void upstreamAlive(boolean alive) {
        if (closed || registeredIn == null) {
            return;
        }
        if (!alive && registration != null) {
            LOG.log(WARNING, "[worker={0}] upstream unreachable: leaving the registry", spec.id());
            Registration r = registration;
            registration = null;
            closeQuietly(r, LOG);
        } else if (alive && registration == null) {
            LOG.log(System.Logger.Level.INFO, "[worker={0}] upstream back: registering again", spec.id());
            registration = registeredIn.register(record);
        }
    }

    /**
     * Starts the engine (with the disaggregation sides when {@code disaggregation} is given and
     * the engine is Tandem's own; an external server in role prefill or decode gets vLLM's, a
     * {@link NixlEngine}) and its publishers; not yet registered.
     *
     * @throws dev.tandem.core.TandemException if a part cannot start (those started are stopped)
     */
    public static LocalWorker start(Spec spec, EngineSource source, Disaggregation disaggregation, EventBus bus,
                                    RuntimeConfig runtime) {
        Engine engine = source.start(spec.engine(), spec.threads(), source.holdsKv() ? spec.poolFile() : null);
        EngineInfo info = engine.info();
        if (info.simulated()) {
            LOG.log(WARNING, "[worker={0}] SIMULATED engine (mock timing model): tokens are not computed by model {1}",
                    spec.id(), info.modelName());
        }
        DisaggEngine disagg = null;
        NixlEngine nixl = null;
        if (disaggregation != null && engine instanceof LlmEngine own) {
            // owns the engine from here (and closes it if it cannot start)
            disagg = DisaggEngine.start(spec.id(), own, disaggregation.transfer(), disaggregation.pools(),
                    disaggregation.releaser(), disaggregation.metrics(), disaggregation.transferTimeoutMs());
        } else if (engine instanceof UpstreamEngine upstream && spec.role() != WorkerRole.AGGREGATED) {
            // owns the engine from here (and closes it if its server cannot take the role)
            nixl = NixlEngine.wrap(spec.id(), upstream, disaggregation != null ? disaggregation.metrics()
                    : new DisaggMetrics(), NixlEngine.DEFAULT_HANDLE_TTL_MS);
        }
        try {
            return new LocalWorker(spec, engine, disagg, nixl, bus, runtime);
        } catch (RuntimeException e) {
            closeQuietly(disagg != null ? disagg : nixl != null ? nixl : engine, LOG);
            throw e;
        }
    }

    /**
     * Announces the worker; call once, after whatever serves {@code address} is up.
     *
     * @param address how frontends reach it ({@code host:port} of the request plane, or a tag for
     *                an in-process worker)
     * @param hostId  the host it runs on, for same-host transports
     */
    public synchronized Registration register(Registry registry, String address, String hostId) {
        EngineInfo info = engine.info();
        WorkerRecord r = new WorkerRecord(spec.id(), spec.role(), info.modelName(), address, info.layout(),
                info.totalBlocks(), info.maxBatchTokens(), endpoints(), hostId);
        registration = registry.register(r);
        record = r;
        registeredIn = registry;
        return registration;
    }

    /** Revokes the registry record (no-op when not registered); the engine keeps serving. */
    public synchronized void deregister() {
        registeredIn = null;
        Registration r = registration;
        registration = null;
        closeQuietly(r, LOG);
    }

    /** Whether the record is in the registry now (an upstream worker leaves it while its server is down). */
    public boolean registered() {
        return registration != null;
    }

    public String id() {
        return spec.id();
    }

    public WorkerRole role() {
        return spec.role();
    }

    /** The engine requests go to: with the disaggregation sides when the worker has them. */
    public Engine served() {
        return served;
    }

    /** Prefill for peers (Tandem's own, or an external server's), or null for a worker without it. */
    public PrefillService prefillService() {
        return served instanceof PrefillService p ? p : null;
    }

    /** The engine itself. */
    public Engine engine() {
        return engine;
    }

    /** The disaggregation sides, or null for a worker without them. */
    public DisaggEngine disaggEngine() {
        return disagg;
    }

    /** Transfer endpoints of the worker's pool, best first (empty without disaggregation). */
    public List<TransferEndpoint> endpoints() {
        return disagg == null ? List.of() : disagg.endpoints();
    }

    /** Pins held for decode workers now. */
    public int activePins() {
        return disagg == null ? 0 : disagg.activePins();
    }

    /** The record registered, or null before {@link #register}. */
    public WorkerRecord record() {
        return record;
    }

    /** KV events published so far (for logs and tests). */
    public long publishedKvEvents() {
        return kvEvents.publishedEvents();
    }

    /** KV events dropped while the event plane was unavailable. */
    public long droppedKvEvents() {
        return kvEvents.droppedEvents();
    }

    /** Load reports published so far. */
    public long publishedLoadReports() {
        return load.publishedReports();
    }

    /** Deregisters, stops the publishers, then the engine. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        closeQuietly(liveness, LOG);
        deregister();
        closeQuietly(load, LOG);
        closeQuietly(subscription, LOG);
        closeQuietly(kvEvents, LOG);
        closeQuietly(served(), LOG);
    }
}
