package dev.tandem.frontend;

import dev.tandem.core.LoadReport;
import dev.tandem.core.TandemException;
import dev.tandem.core.WorkerRecord;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EventBus;
import dev.tandem.runtime.registry.WorkerSetTracker;
import dev.tandem.runtime.rpc.HealthStatus;
import dev.tandem.runtime.rpc.RemoteEngine;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.LongSupplier;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * Keeps a {@link WorkerSet} in step with the registry for workers in other processes: the
 * distributed counterpart of {@link RegistryWorkers}, fed by a {@link WorkerSetTracker} (which
 * has already refused workers whose block size disagrees).
 *
 * <h2>Design</h2>
 * Per registered worker a {@link Member}: a {@link RemoteEngine} client (no I/O until used) and
 * whether it is in the worker set. A worker joins the set only after a health call answers
 * "serving", so a record whose process is unreachable (crashed but still within its lease, or
 * behind a cut network) never receives requests; until then it is probed every
 * {@code probeIntervalMs}. The probes run on virtual threads, never on the registry's watch
 * thread, so one slow worker delays no one else's join.
 * <pre>
 *   record added ──▶ PROBING ──health: serving──▶ JOINED ──generate: WORKER_LOST──▶ PROBING
 *        ▲               │ not serving / error:        │
 *        │               └── probe again later         └── record removed ──▶ gone (client closed
 *   (same worker re-registers: a new member)                                   once its streams end)
 * </pre>
 * A worker that loses its connection mid-request (process killed, host gone) leaves the set at
 * the first failure rather than at the end of its lease; its record, while it lasts, keeps it
 * under probe, and it rejoins when it answers again. When the record goes (stopped, lease
 * lapsed) the member is dropped; its client is closed only after the streams still running on it
 * have ended, so a worker that drains on shutdown finishes its requests.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. Membership changes hold this object's monitor; the worker set's own
 * listeners (the router) run under it, which is fine because they never call back.
 */
public final class RemoteWorkers implements WorkerSetTracker.Listener, AutoCloseable {
    private static final System.Logger LOG = System.getLogger(RemoteWorkers.class.getName());

    private final WorkerSet workers;
    private final Set<String> servedModels;
    private final Function<WorkerRecord, RemoteEngine> connector;
    private final long probeIntervalMs;
    private final long drainWaitMs;
    private final long stallMigrateMs;
    private final long stallProbeMs;
    /** Time source of the stall checks, nanoseconds. */
    private final LongSupplier clockNs;
    private final ScheduledExecutorService timer;
    private final Map<String, Member> members = new HashMap<>(); // guarded by this
    private boolean closed; // guarded by this

    /** One registered worker. Fields guarded by the enclosing RemoteWorkers. */
    private final class Member {
        final WorkerRecord record;
        final RemoteEngine client;
        RemoteWorkerEngine engine;
        boolean joined;
        boolean gone;
        boolean probing;
        boolean warned;
        /** A stall probe (health call because a stream stopped moving) is running. */
        boolean stallProbing;
        /** No stall probe before this time (one per {@code stallProbeMs} while a stream stays stalled). */
        long nextStallProbeNs;
        /** Probes that found the worker unusable so far. */
        int failedProbes;
        ScheduledFuture<?> nextProbe;

        Member(WorkerRecord record, RemoteEngine client) {
            this.record = record;
            this.client = client;
        }

        String id() {
            return record.instanceId();
        }
    }

    /**
     * @param workers         the set to keep current
     * @param servedModels    models this frontend serves; workers of other models are ignored
     * @param runtime         deadlines of the clients' calls ({@code rpcCallTimeoutMs} for health)
     * @param bus             where the clients read KV events (may be null)
     * @param probeIntervalMs pause between health probes of a registered worker that is not in the
     *                        set, ms, &gt; 0
     */
    public RemoteWorkers(WorkerSet workers, Set<String> servedModels, RuntimeConfig runtime, EventBus bus,
                         long probeIntervalMs) {
        this(workers, servedModels, record -> RemoteEngine.connect(record, runtime, bus), probeIntervalMs,
                runtime.rpcGenerateTimeoutMs(), Long.getLong("tandem.frontend.stall-migrate-ms", DEFAULT_STALL_MIGRATE_MS),
                Long.getLong("tandem.frontend.stall-probe-ms", DEFAULT_STALL_PROBE_MS));
    }

    /**
     * Default of {@code tandem.frontend.stall-probe-ms}: a stream of a registered worker with no
     * token for this long makes the frontend ask the worker's health within twice that time; a worker
     * that does not answer (frozen, or cut off behind an open connection) leaves the set and its
     * stalled streams migrate at once, without waiting for its lease or the connection's keepalive.
     * A worker that answers is only slow (a long prefill, a full queue): its streams stay.
     */
    static final long DEFAULT_STALL_PROBE_MS = 2_000;

    /**
     * Default of {@code tandem.frontend.stall-migrate-ms}: once a worker has left the registry, a
     * stream of it with no token for this long is failed and migrated (a worker that drains
     * gracefully keeps producing tokens, so its streams finish where they are).
     */
    static final long DEFAULT_STALL_MIGRATE_MS = 1_000;

    RemoteWorkers(WorkerSet workers, Set<String> servedModels, Function<WorkerRecord, RemoteEngine> connector,
                  long probeIntervalMs, long drainWaitMs) {
        this(workers, servedModels, connector, probeIntervalMs, drainWaitMs, DEFAULT_STALL_MIGRATE_MS,
                DEFAULT_STALL_PROBE_MS);
    }

    RemoteWorkers(WorkerSet workers, Set<String> servedModels, Function<WorkerRecord, RemoteEngine> connector,
                  long probeIntervalMs, long drainWaitMs, long stallMigrateMs, long stallProbeMs) {
        this(workers, servedModels, connector, probeIntervalMs, drainWaitMs, stallMigrateMs, stallProbeMs,
                System::nanoTime);
    }

    /** As above, with the clock the stall checks read (nanoseconds). */
    RemoteWorkers(WorkerSet workers, Set<String> servedModels, Function<WorkerRecord, RemoteEngine> connector,
                  long probeIntervalMs, long drainWaitMs, long stallMigrateMs, long stallProbeMs, LongSupplier clockNs) {
        if (probeIntervalMs <= 0) {
            throw new IllegalArgumentException("probe interval must be positive, got " + probeIntervalMs);
        }
        if (stallProbeMs <= 0) {
            throw new IllegalArgumentException("stall probe time must be positive, got " + stallProbeMs);
        }
        this.workers = workers;
        this.servedModels = Set.copyOf(servedModels);
        this.connector = connector;
        this.probeIntervalMs = probeIntervalMs;
        this.drainWaitMs = drainWaitMs;
        this.stallMigrateMs = stallMigrateMs;
        this.stallProbeMs = stallProbeMs;
        this.clockNs = clockNs;
        this.timer = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("tandem-worker-probes").factory());
        long periodMs = Math.clamp(stallProbeMs / 4, 20, 1_000);
        timer.scheduleWithFixedDelay(this::watchStalls, periodMs, periodMs, TimeUnit.MILLISECONDS);
    }

    @Override
    public void onWorkerAdded(WorkerRecord record) {
        if (!servedModels.contains(record.modelName())) {
            LOG.log(INFO, "[worker={0}] serves model {1}, which this frontend does not serve ({2}); ignored",
                    record.instanceId(), record.modelName(), servedModels);
            return;
        }
        Member m;
        synchronized (this) {
            if (closed) {
                return;
            }
            Member old = members.remove(record.instanceId());
            if (old != null) {
                dropLocked(old);
            }
            m = new Member(record, connector.apply(record));
            members.put(m.id(), m);
        }
        probeSoon(m, 0);
    }

    @Override
    public void onWorkerRemoved(WorkerRecord record) {
        synchronized (this) {
            Member m = members.get(record.instanceId());
            if (m != null && m.record.equals(record)) {
                members.remove(m.id());
                dropLocked(m);
            }
        }
    }

    /** Routes a load report from the event plane to the worker's engine (for metrics). */
    public void onLoad(String workerId, LoadReport report) {
        RemoteWorkerEngine engine;
        synchronized (this) {
            Member m = members.get(workerId);
            engine = m == null ? null : m.engine;
        }
        if (engine != null) {
            engine.onLoad(report);
        }
    }

    /** Ids of registered workers (of served models) that are not in the worker set now. */
    public synchronized Set<String> unreachable() {
        Set<String> out = new java.util.TreeSet<>();
        for (Member m : members.values()) {
            if (!m.joined) {
                out.add(m.id());
            }
        }
        return out;
    }

    /** Probes of registered worker {@code id} that found it unusable so far (0 for an unknown id). */
    synchronized int failedProbes(String id) {
        Member m = members.get(id);
        return m == null ? 0 : m.failedProbes;
    }

    private void dropLocked(Member m) {
        m.gone = true;
        if (m.nextProbe != null) {
            m.nextProbe.cancel(false);
        }
        if (m.joined) {
            m.joined = false;
            workers.remove(m.id());
        }
        RemoteWorkerEngine engine = m.engine;
        String id = m.id();
        Thread.ofVirtual().name("tandem-worker-close-" + m.id()).start(() -> closeWhenIdle(id, m.client, engine));
    }

    /**
     * Closes a client once its running streams have ended (or after the longest stream deadline).
     * Meanwhile a stream that makes no progress for {@code stallMigrateMs} is failed, so its request
     * migrates at once instead of when the connection's keepalive gives up.
     */
    private void closeWhenIdle(String id, RemoteEngine client, RemoteWorkerEngine engine) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(drainWaitMs);
        long stallNs = TimeUnit.MILLISECONDS.toNanos(stallMigrateMs);
        try {
            while (client.runningRequests() > 0 && System.nanoTime() - deadline < 0) {
                if (engine != null) {
                    int failed = engine.abandonStalled(stallNs, "worker " + id + " left the registry and its stream "
                            + "made no progress for " + stallMigrateMs + " ms");
                    if (failed > 0) {
                        LOG.log(WARNING, "[worker={0}] left the registry with {1} stalled streams; migrating them",
                                id, failed);
                    }
                    if (engine.runningStreams() == 0) {
                        break;
                    }
                }
                Thread.sleep(100);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        client.close();
    }

    private void probeSoon(Member m, long delayMs) {
        synchronized (this) {
            if (m.gone || closed || m.probing) {
                return;
            }
            m.probing = true;
            try {
                m.nextProbe = timer.schedule(() -> Thread.ofVirtual().name("tandem-worker-probe-" + m.id())
                        .start(() -> probe(m)), delayMs, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException e) {
                m.probing = false; // closing
            }
        }
    }

    private void probe(Member m) {
        HealthStatus health = null;
        String problem;
        try {
            health = m.client.health();
            problem = health.serving() ? null : "it is not serving (draining)";
        } catch (TandemException | IllegalStateException e) {
            problem = e.getMessage();
        }
        synchronized (this) {
            m.probing = false;
            if (m.gone || closed) {
                return;
            }
            if (problem == null && join(m, health)) {
                return;
            }
            m.failedProbes++;
            if (!m.warned) {
                m.warned = true;
                LOG.log(WARNING, "[worker={0}] registered at {1} but not usable: {2}; probing every {3} ms",
                        m.id(), m.record.rpcAddress(), problem, probeIntervalMs);
            }
        }
        probeSoon(m, probeIntervalMs);
    }

    /** Guarded by this. Adds the worker to the set; false (and a warning) if the set refuses it. */
    private boolean join(Member m, HealthStatus health) {
        if (!health.info().modelName().equals(m.record.modelName())
                || health.info().layout().blockSizeTokens() != m.record.layout().blockSizeTokens()) {
            LOG.log(WARNING, "[worker={0}] at {1} answers for model {2} with block size {3}, but its record says {4} "
                    + "with {5}; left out", m.id(), m.record.rpcAddress(), health.info().modelName(),
                    health.info().layout().blockSizeTokens(), m.record.modelName(), m.record.layout().blockSizeTokens());
            return false;
        }
        if (m.engine == null) {
            m.engine = new RemoteWorkerEngine(m.client, health.info(), () -> lost(m), clockNs);
        }
        try {
            workers.add(new Worker(m.id(), m.record.role(), m.engine));
        } catch (TandemException e) {
            LOG.log(WARNING, "[worker={0}] refused by the worker set: {1}", m.id(), e.getMessage());
            return false;
        }
        m.joined = true;
        if (m.warned) {
            LOG.log(INFO, "[worker={0}] reachable again at {1}", m.id(), m.record.rpcAddress());
        }
        m.warned = false;
        return true;
    }

    /**
     * Timer tick: a joined worker with a stream that has had no token for {@code stallProbeMs} gets
     * a health call with twice that deadline, on a virtual thread (one at a time per worker, at most one
     * per {@code stallProbeMs}).
     */
    private void watchStalls() {
        long now = clockNs.getAsLong();
        long stallNs = TimeUnit.MILLISECONDS.toNanos(stallProbeMs);
        synchronized (this) {
            for (Member m : members.values()) {
                if (m.joined && !m.stallProbing && m.engine != null && now - m.nextStallProbeNs >= 0
                        && m.engine.longestStallNanos(now) >= stallNs) {
                    m.stallProbing = true;
                    m.nextStallProbeNs = now + stallNs;
                    Thread.ofVirtual().name("tandem-worker-stall-probe-" + m.id()).start(() -> stallProbe(m));
                }
            }
        }
    }

    /** Asks a worker with a stalled stream whether it still answers; if not, it leaves and its stalled streams migrate. */
    private void stallProbe(Member m) {
        String problem = null;
        try {
            m.client.health(java.time.Duration.ofMillis(2 * stallProbeMs));
        } catch (RuntimeException e) {
            problem = e.getMessage();
        }
        RemoteWorkerEngine engine;
        synchronized (this) {
            m.stallProbing = false;
            engine = m.engine;
            if (problem == null || m.gone || closed) {
                return;
            }
        }
        LOG.log(WARNING, "[worker={0}] a stream made no progress for {1} ms and the worker did not answer a health "
                + "call within {2} ms ({3}); migrating its stalled streams", m.id(), stallProbeMs, 2 * stallProbeMs,
                problem);
        lost(m);
        int failed = engine.abandonStalled(TimeUnit.MILLISECONDS.toNanos(stallProbeMs), "worker " + m.id()
                + " made no progress for " + stallProbeMs + " ms and did not answer a health call");
        if (failed > 0) {
            LOG.log(WARNING, "[worker={0}] {1} stalled streams failed over", m.id(), failed);
        }
    }

    /** A request saw the worker's connection fail: out of the set until a probe succeeds. */
    private void lost(Member m) {
        synchronized (this) {
            if (!m.joined || m.gone || closed) {
                return;
            }
            m.joined = false;
            m.warned = true;
            workers.remove(m.id());
            LOG.log(WARNING, "[worker={0}] connection to {1} lost; no new requests go there until it answers again "
                    + "(probing every {2} ms while it stays registered)", m.id(), m.record.rpcAddress(), probeIntervalMs);
        }
        probeSoon(m, probeIntervalMs);
    }

    /** Stops probing and closes every client (running streams are cancelled). Idempotent. */
    @Override
    public void close() {
        java.util.List<Member> all;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            all = java.util.List.copyOf(members.values());
            members.clear();
            for (Member m : all) {
                m.gone = true;
                if (m.joined) {
                    m.joined = false;
                    workers.remove(m.id());
                }
            }
        }
        timer.shutdownNow();
        for (Member m : all) {
            m.client.close();
        }
    }
}
