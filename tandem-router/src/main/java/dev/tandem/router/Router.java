package dev.tandem.router;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RequestException;
import dev.tandem.core.WorkerRole;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * The KV-aware router: sends each request to the worker where its prompt prefix is cached and
 * the load is low. Embedded in the frontend (or a replay driver); no I/O of its own.
 *
 * <pre>
 * Design
 *   Inputs, from the runtime: workers joining and leaving (addWorker / removeWorker), their
 *   KV events and snapshots (onKvEvent / onKvSnapshot, applied by KvIndexer), their load
 *   reports (onLoadReport); from the frontend: requests (route) and their lifecycle
 *   (prefillDone at the first token, finished at the end).
 *   A decision: the candidates are the workers of the request's pool (or the one it names);
 *   one prefix walk gives every candidate's overlap; each candidate gets prefill blocks,
 *   decode blocks, KV cost and a busy flag (Candidates.score); the policy picks among those
 *   not busy. A committed decision adds the request's load to the chosen worker until the
 *   lifecycle calls take it back, and, for a worker without events, records the request's
 *   blocks in the approximate index.
 *   Time comes only from the injected clock (approximate time-to-live, snapshot timeouts), and
 *   nothing runs in the background: the embedder calls doWork() from its timer, so a replay
 *   driver can run the router on simulated time, single-threaded and reproducibly.
 *
 * Invariants (checkInvariants)
 *   - the worker list, the worker map and the indexer's slots describe the same workers;
 *   - no worker has a negative in-flight count;
 *   - the KvIndexer invariants hold.
 *
 * Concurrency
 *   Safe for concurrent use. Decisions read a copy-on-write worker list and take no lock (the
 *   index takes per-shard optimistic reads). Membership changes hold membershipLock. Scratch
 *   space for decisions comes from a small lock-free pool, so a decision allocates only its
 *   result. See KvIndexer for event ordering.
 *
 * References
 *   NVIDIA Dynamo's KV router (lib/llm/src/kv_router): KvIndexer, ApproxKvIndexer, the
 *   scheduler's cost function and the active-sequence tracking between load reports.
 *   RouterBenchmark: decision latency and event rate (docs/benchmarks.md, Router).
 * </pre>
 */
public final class Router {
    private static final System.Logger LOG = System.getLogger(Router.class.getName());
    private static final int SCRATCH_POOL_SIZE = 16;

    private final RouterConfig config;
    private final KvIndexer indexer;
    private final RoutingPolicy policy;
    private final LongSupplier clockNs;
    private final Map<String, WorkerLoad> workers = new ConcurrentHashMap<>();
    private final Object membershipLock = new Object();
    /** Why volatile: copy-on-write list in registration order, read by routing threads. */
    private volatile WorkerLoad[] workerList = new WorkerLoad[0];
    /** Why volatile: read by routing threads; bumped under membershipLock on every change. */
    private volatile long membershipVersion;
    private final AtomicReferenceArray<Candidates> scratchPool = new AtomicReferenceArray<>(SCRATCH_POOL_SIZE);
    private final LongAdder routedCount = new LongAdder();
    private final LongAdder rejectedBusy = new LongAdder();
    private final LongAdder rejectedNoWorker = new LongAdder();

    private Router(RouterConfig config, RoutingPolicy policy, SnapshotRequester requester, LongSupplier clockNs) {
        this.config = Objects.requireNonNull(config, "config");
        this.policy = Objects.requireNonNull(policy, "policy");
        this.clockNs = Objects.requireNonNull(clockNs, "clockNs");
        this.indexer = new KvIndexer(config, Objects.requireNonNull(requester, "requester"), clockNs);
    }

    /**
     * A router with the policy {@code config} names.
     *
     * @param requester asks workers for KV snapshots after a gap (see {@link SnapshotRequester})
     * @param clockNs   monotonic time in nanoseconds ({@code System::nanoTime}, or simulated time)
     * @param random    randomness for softmax sampling and the random policy (seed it to reproduce)
     */
    public static Router create(RouterConfig config, SnapshotRequester requester, LongSupplier clockNs, Random random) {
        return new Router(config, RoutingPolicy.create(config, random), requester, clockNs);
    }

    /** A router with an explicit policy (e.g. a session-affinity policy with another fallback). */
    public static Router create(RouterConfig config, RoutingPolicy policy, SnapshotRequester requester,
                                LongSupplier clockNs) {
        return new Router(config, policy, requester, clockNs);
    }

    public RouterConfig config() {
        return config;
    }

    public RoutingPolicy policy() {
        return policy;
    }

    /** The KV index behind the router (statistics, tests, diagnostics). */
    public KvIndexer indexer() {
        return indexer;
    }

    /**
     * Registers a worker. Idempotent for the same id and role.
     *
     * @param publishesEvents false for a worker that sends no KV events (approximate mode)
     * @throws ConfigException if the id is registered with another role, or no slot is free
     */
    public void addWorker(String workerId, WorkerRole role, boolean publishesEvents) {
        Objects.requireNonNull(workerId, "workerId");
        Objects.requireNonNull(role, "role");
        synchronized (membershipLock) {
            WorkerLoad known = workers.get(workerId);
            if (known != null) {
                if (known.role != role) {
                    throw new ConfigException("worker '" + workerId + "' is already registered as " + known.role
                            + ", not " + role);
                }
                return;
            }
            int slot = indexer.addWorker(workerId, publishesEvents);
            WorkerLoad w = new WorkerLoad(workerId, slot, role);
            workers.put(workerId, w);
            WorkerLoad[] next = java.util.Arrays.copyOf(workerList, workerList.length + 1);
            next[next.length - 1] = w;
            workerList = next;
            membershipVersion++;
        }
        LOG.log(System.Logger.Level.INFO, "[worker={0}] joined the router as {1}{2}", workerId, role,
                publishesEvents ? "" : " (no KV events: approximate routing)");
    }

    /** Removes a worker (its lease ended) and every block it held. Unknown ids are ignored. */
    public void removeWorker(String workerId) {
        synchronized (membershipLock) {
            WorkerLoad w = workers.remove(workerId);
            if (w == null) {
                return;
            }
            indexer.removeWorker(workerId);
            List<WorkerLoad> next = new ArrayList<>(List.of(workerList));
            next.remove(w);
            workerList = next.toArray(new WorkerLoad[0]);
            membershipVersion++;
        }
        LOG.log(System.Logger.Level.INFO, "[worker={0}] left the router", workerId);
    }

    public boolean hasWorker(String workerId) {
        return workers.containsKey(workerId);
    }

    /** Applies one KV event of a worker (events of one worker in id order; see KvIndexer). */
    public void onKvEvent(String workerId, KvEvent event) {
        indexer.onEvent(workerId, event);
    }

    /** Applies a worker's KV snapshot (the answer to a snapshot request, or unsolicited). */
    public void onKvSnapshot(String workerId, KvSnapshot snapshot) {
        indexer.onSnapshot(workerId, snapshot);
    }

    /** Records a worker's load report; the router's own corrections restart from it. */
    public void onLoadReport(String workerId, LoadReport report) {
        WorkerLoad w = workers.get(workerId);
        if (w != null) {
            w.onReport(report);
        }
    }

    /** See {@link KvIndexer#setEventsAvailable}. */
    public void setEventsAvailable(String workerId, boolean available) {
        indexer.setEventsAvailable(workerId, available);
    }

    /** See {@link KvIndexer#resync}. */
    public void resync(String workerId) {
        indexer.resync(workerId);
    }

    /**
     * Chooses a worker for the request and counts the request in its load (call
     * {@link #prefillDone} and {@link #finished} later).
     *
     * @throws RequestException (INVALID) if the request contradicts the block size
     */
    public Decision route(RouteRequest request) {
        return decide(request, true, config.busyKvUsage(), config.busyQueuedPrefillTokens());
    }

    /**
     * As {@link #route(RouteRequest)}, but a candidate counts as busy by these thresholds instead
     * of the configured ones (for example a prefill pool that must not queue more than so many
     * prompt tokens per worker); all busy gives {@link Decision.Reason#ALL_BUSY}.
     */
    public Decision route(RouteRequest request, double busyKvUsage, long busyQueuedPrefillTokens) {
        return decide(request, true, busyKvUsage, busyQueuedPrefillTokens);
    }

    /** Chooses as {@link #route} would, without changing any state (a query). */
    public Decision preview(RouteRequest request) {
        return decide(request, false, config.busyKvUsage(), config.busyQueuedPrefillTokens());
    }

    private Decision decide(RouteRequest r, boolean commit, double busyKvUsage, long busyQueuedPrefillTokens) {
        int blockSize = config.blockSizeTokens();
        long[] hashes = r.blockHashes();
        if ((long) hashes.length * blockSize > r.promptTokens()) {
            throw new RequestException(RequestException.Kind.INVALID, "[req=" + r.requestId() + "] "
                    + hashes.length + " blocks of " + blockSize + " tokens need at least "
                    + (long) hashes.length * blockSize + " prompt tokens, got " + r.promptTokens(), "prompt", null);
        }
        indexer.expireIfDue(clockNs.getAsLong());
        long version = membershipVersion;
        WorkerLoad[] list = workerList;
        double weight = r.overlapWeight() != null ? r.overlapWeight() : config.overlapWeight();
        Candidates c = acquire();
        try {
            c.reset(r.pool(), version, weight);
            String target = r.targetWorker();
            for (WorkerLoad w : list) {
                if (w.role == r.pool() && (target == null || w.id.equals(target))) {
                    c.add(w);
                }
            }
            if (c.size() == 0) {
                rejectedNoWorker.increment();
                return target == null
                        ? new Decision.Rejected(r.requestId(), Decision.Reason.NO_WORKERS,
                                "[req=" + r.requestId() + "] no " + r.pool() + " worker is registered")
                        : new Decision.Rejected(r.requestId(), Decision.Reason.UNKNOWN_WORKER,
                                "[req=" + r.requestId() + "] worker '" + target + "' is not a registered "
                                        + r.pool() + " worker");
            }
            indexer.match(hashes, hashes.length, c.scratch.candidates, c.scratch);
            c.score(hashes.length, r.promptTokens(), busyKvUsage, busyQueuedPrefillTokens);
            int pick = c.available() == 0 ? -1 : target != null ? 0 : policy.select(c, r);
            if (pick < 0) {
                rejectedBusy.increment();
                return new Decision.Rejected(r.requestId(), Decision.Reason.ALL_BUSY, "[req=" + r.requestId()
                        + "] all " + c.size() + " " + r.pool() + " workers are busy");
            }
            WorkerLoad w = c.worker(pick);
            boolean approximate = indexer.isApproximate(w.slot);
            Decision.Routed d = new Decision.Routed(r.requestId(), w, c.overlapBlocks(pick), blockSize,
                    hashes.length, r.promptTokens(), c.cost(pick), target != null ? "direct" : policy.name(),
                    approximate, commit);
            if (commit) {
                w.routed(d.activeBlocks, d.prefillTokens);
                if (approximate) {
                    indexer.recordRouted(w.slot, hashes, hashes.length);
                }
            }
            routedCount.increment();
            return d;
        } finally {
            release(c);
        }
    }

    /** The request produced its first token: its prefill no longer loads the worker. Idempotent. */
    public void prefillDone(Decision.Routed d) {
        if (d.state.compareAndSet(Decision.Routed.ROUTED, Decision.Routed.PREFILL_DONE)) {
            d.worker.prefillDone(d.prefillTokens);
        }
    }

    /** The request ended (finished, failed or cancelled): its blocks are free. Idempotent. */
    public void finished(Decision.Routed d) {
        while (true) {
            int s = d.state.get();
            if (s == Decision.Routed.UNTRACKED || s == Decision.Routed.FINISHED) {
                return;
            }
            if (d.state.compareAndSet(s, Decision.Routed.FINISHED)) {
                if (s == Decision.Routed.ROUTED) {
                    d.worker.prefillDone(d.prefillTokens);
                }
                d.worker.finished(d.activeBlocks);
                return;
            }
        }
    }

    /**
     * Periodic work (call every few hundred milliseconds, or from a replay loop): expires
     * approximate records and repeats unanswered snapshot requests.
     *
     * @return units of work done
     */
    public int doWork() {
        return indexer.doWork();
    }

    /** One worker's state as the router sees it. */
    public record WorkerStatus(String workerId, WorkerRole role, int slot, boolean approximate, long indexedBlocks,
                               long activeBlocks, long queuedPrefillTokens, int inFlightRequests, double kvUsage) {
    }

    /** Every registered worker, in registration order. */
    public List<WorkerStatus> workers() {
        List<WorkerStatus> out = new ArrayList<>();
        for (WorkerLoad w : workerList) {
            out.add(new WorkerStatus(w.id, w.role, w.slot, indexer.isApproximate(w.slot),
                    indexer.index().blocksOf(w.slot), w.activeBlocks(), w.queuedPrefillTokens(),
                    w.inFlightRequests(), w.kvUsage()));
        }
        return out;
    }

    public RouterStats stats() {
        RouterStats.Builder b = new RouterStats.Builder();
        indexer.fillStats(b);
        b.workers = workerList.length;
        b.routed = routedCount.sum();
        b.rejectedBusy = rejectedBusy.sum();
        b.rejectedNoWorker = rejectedNoWorker.sum();
        return b.build();
    }

    /** Verifies the invariants in the design notes; throws IllegalStateException if one fails. */
    public void checkInvariants() {
        synchronized (membershipLock) {
            WorkerLoad[] list = workerList;
            if (list.length != workers.size()) {
                throw new IllegalStateException("worker list has " + list.length + " entries, map " + workers.size());
            }
            for (WorkerLoad w : list) {
                if (workers.get(w.id) != w) {
                    throw new IllegalStateException("worker " + w.id + " in the list but not the map");
                }
                if (w.inFlightRequests() < 0) {
                    throw new IllegalStateException("worker " + w.id + " has " + w.inFlightRequests() + " in flight");
                }
            }
            indexer.checkInvariants();
        }
    }

    private Candidates acquire() {
        int start = (int) (Thread.currentThread().threadId() & (SCRATCH_POOL_SIZE - 1));
        for (int k = 0; k < SCRATCH_POOL_SIZE; k++) {
            Candidates c = scratchPool.getAndSet((start + k) & (SCRATCH_POOL_SIZE - 1), null);
            if (c != null) {
                return c;
            }
        }
        return new Candidates(config.maxWorkers(), config.blockSizeTokens(), indexer.index());
    }

    private void release(Candidates c) {
        int start = (int) (Thread.currentThread().threadId() & (SCRATCH_POOL_SIZE - 1));
        for (int k = 0; k < SCRATCH_POOL_SIZE; k++) {
            if (scratchPool.compareAndSet((start + k) & (SCRATCH_POOL_SIZE - 1), null, c)) {
                return;
            }
        }
    }
}
