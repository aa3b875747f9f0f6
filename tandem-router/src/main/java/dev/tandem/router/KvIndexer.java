package dev.tandem.router;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvSnapshot;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.LongSupplier;

/**
 * Keeps the prefix index in step with the workers' KV events: per-worker ordering, gap
 * detection and snapshot recovery, worker slots, and approximate mode for workers whose events
 * are absent.
 *
 * <pre>
 * Design
 *   Each worker numbers its events 0, 1, 2, ... without gaps. Per worker the indexer keeps
 *   nextEventId and one of two states:
 *
 *     IN_SYNC  -- id == next -------------> apply, next++
 *        |     -- id <  next -------------> duplicate, ignore
 *        |     -- id >  next (a gap) ------> buffer it, request a snapshot
 *        v
 *     AWAITING_SNAPSHOT (events buffered by id, oldest dropped past maxBufferedEvents)
 *        -- id == next (late arrival) ----> apply, then drain the buffer while contiguous;
 *                                           back to IN_SYNC if the buffer empties
 *        -- snapshot L with L >= next - 1 -> replace the worker's blocks with the snapshot,
 *                                           next = L + 1, drop buffered ids <= L, drain;
 *                                           IN_SYNC if the buffer empties, else (a hole that
 *                                           no one will fill) request another snapshot
 *        -- snapshotTimeoutMs passes -----> request again (doWork)
 *
 *   A snapshot older than what was applied (L < next - 1) is ignored. A worker's first event
 *   may be any id: the router may have joined late, so id > 0 on a fresh worker is a gap.
 *
 *   While a worker awaits a snapshot, or publishes no events, or the runtime says its events
 *   are lost, it is "approximate": the router records its own decisions to it in an
 *   ApproxIndex with a time-to-live, and its overlap is the larger of the (possibly stale)
 *   event index and that record. Back in sync, its approximate records are dropped.
 *
 * Invariants (checkInvariants)
 *   - a worker IN_SYNC has an empty buffer; a buffer never exceeds maxBufferedEvents and holds
 *     only ids > nextEventId;
 *   - occupied slots are exactly the registered workers' slots;
 *   - the PrefixIndex and ApproxIndex invariants hold.
 *
 * Concurrency
 *   Safe for concurrent use. Each worker's events and snapshots are applied under that
 *   worker's monitor, so one worker's events are applied one at a time and in id order while
 *   different workers' events proceed in parallel (the index shards take their own locks).
 *   Membership changes hold the indexer's slot lock and then the worker's monitor. Snapshot
 *   requests are made after the monitor is released. match() takes no monitor.
 *
 * Size
 *   Over 500 lines on purpose: the state machine above runs under one worker's monitor, and
 *   its transitions (apply, buffer, snapshot, timeout, membership) read the same fields; the
 *   index it feeds (PrefixIndex, ApproxIndex, MaskTable) already lives apart.
 *
 * References
 *   Dynamo's KV router gap detection ("NATS Core with local indexer" mode: event ids per
 *   worker, a query to the worker's local indexer on a gap or on discovery).
 * </pre>
 */
public final class KvIndexer {
    private static final System.Logger LOG = System.getLogger(KvIndexer.class.getName());

    /** One worker's event state; fields guarded by the object's monitor unless noted. */
    static final class WorkerEvents {
        final String id;
        final int slot;
        final boolean publishesEvents;
        long nextEventId;
        boolean awaiting;
        long requestedAtNs;
        boolean eventsLost;
        boolean removed;
        final TreeMap<Long, KvEvent> buffer = new TreeMap<>();
        /** Why volatile: read by routing threads without the monitor. */
        volatile boolean approximate;

        WorkerEvents(String id, int slot, boolean publishesEvents) {
            this.id = id;
            this.slot = slot;
            this.publishesEvents = publishesEvents;
            this.approximate = !publishesEvents;
        }
    }

    private final RouterConfig config;
    private final PrefixIndex index;
    private final ApproxIndex approx;
    private final SnapshotRequester requester;
    private final LongSupplier clockNs;
    private final long snapshotTimeoutNs;
    private final Map<String, WorkerEvents> workers = new ConcurrentHashMap<>();
    private final Object slotLock = new Object();
    /** Slot -> worker; replaced under slotLock. Why volatile: read by routing threads. */
    private volatile WorkerEvents[] bySlot;
    /** Lets match() skip the approximate walk when no worker is approximate. */
    private final AtomicInteger approximateWorkers = new AtomicInteger();

    private final LongAdder eventsApplied = new LongAdder();
    private final LongAdder eventsDuplicate = new LongAdder();
    private final LongAdder eventsUnknownWorker = new LongAdder();
    private final LongAdder eventsDropped = new LongAdder();
    private final LongAdder gapsDetected = new LongAdder();
    private final LongAdder snapshotsRequested = new LongAdder();
    private final LongAdder snapshotsApplied = new LongAdder();
    private final LongAdder snapshotsIgnored = new LongAdder();

    public KvIndexer(RouterConfig config, SnapshotRequester requester, LongSupplier clockNs) {
        this.config = config;
        this.requester = requester;
        this.clockNs = clockNs;
        this.index = new PrefixIndex(config.maxWorkers(), config.maxIndexedBlocks(), config.indexShards(),
                config.pruneTargetRatio());
        this.approx = new ApproxIndex(config.maxWorkers(), config.maxApproxBlocks(),
                TimeUnit.MILLISECONDS.toNanos(config.approxTtlMs()));
        this.snapshotTimeoutNs = TimeUnit.MILLISECONDS.toNanos(config.snapshotTimeoutMs());
        this.bySlot = new WorkerEvents[config.maxWorkers()];
    }

    /** The event-fed index (read-only use outside this class, e.g. tests and statistics). */
    public PrefixIndex index() {
        return index;
    }

    PrefixIndex approximateIndex() {
        return approx.index();
    }

    /**
     * Registers a worker and returns its slot. Idempotent for a known id.
     *
     * @param publishesEvents false for a worker that sends no KV events: always approximate
     * @throws ConfigException when all {@link RouterConfig#maxWorkers()} slots are taken
     */
    public int addWorker(String workerId, boolean publishesEvents) {
        synchronized (slotLock) {
            WorkerEvents known = workers.get(workerId);
            if (known != null) {
                return known.slot;
            }
            WorkerEvents[] slots = bySlot;
            int slot = 0;
            while (slot < slots.length && slots[slot] != null) {
                slot++;
            }
            if (slot == slots.length) {
                throw new ConfigException("cannot add worker '" + workerId + "': all " + slots.length
                        + " router slots are taken (raise tandem.router.max-workers)");
            }
            WorkerEvents w = new WorkerEvents(workerId, slot, publishesEvents);
            WorkerEvents[] next = slots.clone();
            next[slot] = w;
            bySlot = next;
            workers.put(workerId, w);
            if (w.approximate) {
                approximateWorkers.incrementAndGet();
            }
            return slot;
        }
    }

    /** Forgets a worker and every block it held. Unknown ids are ignored. */
    public void removeWorker(String workerId) {
        synchronized (slotLock) {
            WorkerEvents w = workers.remove(workerId);
            if (w == null) {
                return;
            }
            synchronized (w) {
                w.removed = true;
                setApproximate(w, false);
                index.clearSlot(w.slot);
                approx.clearSlot(w.slot);
                w.buffer.clear();
            }
            WorkerEvents[] next = bySlot.clone();
            next[w.slot] = null;
            bySlot = next;
        }
    }

    /** Asks the worker for a snapshot now (e.g. a router that joins a running worker). */
    public void resync(String workerId) {
        WorkerEvents w = workers.get(workerId);
        if (w == null || !w.publishesEvents) {
            return;
        }
        synchronized (w) {
            if (w.removed) {
                return;
            }
            startAwaiting(w);
        }
        request(w);
    }

    /**
     * Tells the indexer whether a worker's events are reaching it (the runtime knows when the
     * event plane connection drops). Without events the worker is routed approximately.
     */
    public void setEventsAvailable(String workerId, boolean available) {
        WorkerEvents w = workers.get(workerId);
        if (w == null) {
            return;
        }
        synchronized (w) {
            w.eventsLost = !available;
            updateApproximate(w);
        }
    }

    /** Applies one of a worker's events, in id order; see the class notes for gaps. */
    public void onEvent(String workerId, KvEvent event) {
        WorkerEvents w = workers.get(workerId);
        if (w == null) {
            eventsUnknownWorker.increment();
            return;
        }
        boolean requestNow;
        synchronized (w) {
            if (w.removed) {
                return;
            }
            requestNow = accept(w, event);
        }
        if (requestNow) {
            request(w);
        }
    }

    /** Guarded by w's monitor. Returns true when a snapshot must be requested. */
    private boolean accept(WorkerEvents w, KvEvent event) {
        long id = event.eventId();
        if (id < w.nextEventId) {
            eventsDuplicate.increment();
            return false;
        }
        if (id == w.nextEventId) {
            apply(w, event);
            if (w.awaiting) {
                drain(w);
                if (w.buffer.isEmpty()) {
                    finishAwaiting(w);
                }
            }
            return false;
        }
        buffer(w, event);
        if (!w.awaiting) {
            gapsDetected.increment();
            LOG.log(System.Logger.Level.WARNING, "[worker={0}] KV event gap: expected {1}, got {2}; requesting a snapshot",
                    w.id, w.nextEventId, id);
            startAwaiting(w);
            return true;
        }
        return false;
    }

    private void buffer(WorkerEvents w, KvEvent event) {
        w.buffer.put(event.eventId(), event);
        if (w.buffer.size() > config.maxBufferedEvents()) {
            w.buffer.pollFirstEntry();
            eventsDropped.increment();
        }
    }

    /** Applies buffered events while they continue nextEventId. Guarded by w's monitor. */
    private void drain(WorkerEvents w) {
        while (!w.buffer.isEmpty()) {
            Map.Entry<Long, KvEvent> first = w.buffer.firstEntry();
            if (first.getKey() < w.nextEventId) {
                w.buffer.pollFirstEntry();
                eventsDuplicate.increment();
            } else if (first.getKey() == w.nextEventId) {
                w.buffer.pollFirstEntry();
                apply(w, first.getValue());
            } else {
                return;
            }
        }
    }

    private void apply(WorkerEvents w, KvEvent event) {
        switch (event) {
            case KvEvent.Stored s -> {
                for (long h : s.sequenceHashes()) {
                    index.store(w.slot, h);
                }
            }
            case KvEvent.Removed r -> {
                for (long h : r.sequenceHashes()) {
                    index.remove(w.slot, h);
                }
            }
            case KvEvent.Cleared c -> index.clearSlot(w.slot);
        }
        w.nextEventId = event.eventId() + 1;
        eventsApplied.increment();
    }

    /**
     * Replaces a worker's blocks with a snapshot (the answer to a {@link SnapshotRequester}
     * call, or unsolicited). Ignored if older than the events already applied.
     */
    public void onSnapshot(String workerId, KvSnapshot snapshot) {
        WorkerEvents w = workers.get(workerId);
        if (w == null) {
            return;
        }
        boolean requestAgain;
        synchronized (w) {
            if (w.removed) {
                return;
            }
            long last = snapshot.lastEventId();
            if (last < w.nextEventId - 1) {
                snapshotsIgnored.increment();
                return;
            }
            index.clearSlot(w.slot);
            for (long h : snapshot.sequenceHashes()) {
                index.store(w.slot, h);
            }
            w.nextEventId = last + 1;
            w.buffer.headMap(last, true).clear();
            drain(w);
            snapshotsApplied.increment();
            requestAgain = !w.buffer.isEmpty();
            if (requestAgain) {
                startAwaiting(w);
            } else {
                finishAwaiting(w);
            }
            if (LOG.isLoggable(System.Logger.Level.DEBUG)) {
                LOG.log(System.Logger.Level.DEBUG, "[worker={0}] applied KV snapshot at event {1}: {2} blocks{3}",
                        w.id, last, snapshot.sequenceHashes().length, requestAgain ? ", events still missing" : "");
            }
        }
        if (requestAgain) {
            request(w);
        }
    }

    private void startAwaiting(WorkerEvents w) {
        w.awaiting = true;
        w.requestedAtNs = clockNs.getAsLong();
        updateApproximate(w);
    }

    private void finishAwaiting(WorkerEvents w) {
        w.awaiting = false;
        updateApproximate(w);
    }

    private void updateApproximate(WorkerEvents w) {
        setApproximate(w, !w.publishesEvents || w.awaiting || w.eventsLost);
    }

    /** Guarded by w's monitor. */
    private void setApproximate(WorkerEvents w, boolean approximate) {
        if (w.approximate == approximate) {
            return;
        }
        w.approximate = approximate;
        approximateWorkers.addAndGet(approximate ? 1 : -1);
        if (!approximate) {
            approx.clearSlot(w.slot);   // the event index is authoritative again
        }
    }

    private void request(WorkerEvents w) {
        snapshotsRequested.increment();
        try {
            requester.requestSnapshot(w.id);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "[worker=" + w.id + "] snapshot request failed; retrying in "
                    + config.snapshotTimeoutMs() + " ms", e);
        }
    }

    /** True when worker {@code slot} is routed from the approximate record. */
    public boolean isApproximate(int slot) {
        WorkerEvents w = bySlot[slot];
        return w != null && w.approximate;
    }

    /** Records a routing decision to an approximate worker (no-op for others). */
    public void recordRouted(int slot, long[] hashes, int count) {
        if (isApproximate(slot) && count > 0) {
            approx.record(slot, hashes, count, clockNs.getAsLong());
        }
    }

    /**
     * Overlap per candidate slot: leading blocks held per the event index, or for approximate
     * workers the larger of that and the approximate record.
     *
     * @return the deepest overlap among candidates
     */
    int match(long[] hashes, int count, long[] candidates, MatchScratch scratch) {
        int[] depthBySlot = scratch.depth;
        int deepest = index.match(hashes, count, candidates, scratch.walk, depthBySlot);
        if (approximateWorkers.get() == 0) {
            return deepest;
        }
        int words = index.words();
        long[] approxCandidates = scratch.approxCandidates;
        WorkerEvents[] slots = bySlot;
        boolean any = false;
        for (int wd = 0; wd < words; wd++) {
            approxCandidates[wd] = 0;
            long m = candidates[wd];
            while (m != 0) {
                int s = (wd << 6) + Long.numberOfTrailingZeros(m);
                WorkerEvents w = slots[s];
                if (w != null && w.approximate) {
                    approxCandidates[wd] |= 1L << s;
                    any = true;
                }
                m &= m - 1;
            }
        }
        if (!any) {
            return deepest;
        }
        int[] approxDepth = scratch.approxDepth;
        approx.index().match(hashes, count, approxCandidates, scratch.walk, approxDepth);
        for (int wd = 0; wd < words; wd++) {
            long m = approxCandidates[wd];
            while (m != 0) {
                int s = (wd << 6) + Long.numberOfTrailingZeros(m);
                depthBySlot[s] = Math.max(depthBySlot[s], approxDepth[s]);
                deepest = Math.max(deepest, depthBySlot[s]);
                m &= m - 1;
            }
        }
        return deepest;
    }

    /**
     * Overlap per slot for every registered worker (tests and diagnostics; allocates).
     *
     * @return depth per slot, maxWorkers long; 0 for free slots
     */
    public int[] overlaps(long[] hashes) {
        MatchScratch scratch = new MatchScratch(config.maxWorkers());
        long[] all = new long[index.words()];
        WorkerEvents[] slots = bySlot;
        for (int s = 0; s < slots.length; s++) {
            if (slots[s] != null) {
                all[s >>> 6] |= 1L << s;
            }
        }
        match(hashes, hashes.length, all, scratch);
        return scratch.depth;
    }

    /** Expires approximate records if any are due; cheap (one volatile read) when none is. */
    void expireIfDue(long nowNs) {
        approx.expireIfDue(nowNs);
    }

    /**
     * Periodic work for the embedder's timer (or a replay loop): expires approximate records
     * and repeats snapshot requests that went unanswered for snapshotTimeoutMs.
     *
     * @return expired records plus repeated requests
     */
    public int doWork() {
        long now = clockNs.getAsLong();
        int work = approx.expire(now);
        for (WorkerEvents w : workers.values()) {
            boolean again = false;
            synchronized (w) {
                if (!w.removed && w.awaiting && now - w.requestedAtNs >= snapshotTimeoutNs) {
                    w.requestedAtNs = now;
                    again = true;
                }
            }
            if (again) {
                request(w);
                work++;
            }
        }
        return work;
    }

    long eventsApplied() {
        return eventsApplied.sum();
    }

    /** Counters for {@link RouterStats}. */
    void fillStats(RouterStats.Builder b) {
        b.indexedBlocks = index.size();
        b.prunedBlocks = index.prunedEntries();
        b.approximateBlocks = approx.index().size();
        b.approximateExpired = approx.expiredPairs();
        b.approximateWorkers = approximateWorkers.get();
        b.eventsApplied = eventsApplied.sum();
        b.eventsDuplicate = eventsDuplicate.sum();
        b.eventsUnknownWorker = eventsUnknownWorker.sum();
        b.eventsDropped = eventsDropped.sum();
        b.gapsDetected = gapsDetected.sum();
        b.snapshotsRequested = snapshotsRequested.sum();
        b.snapshotsApplied = snapshotsApplied.sum();
        b.snapshotsIgnored = snapshotsIgnored.sum();
    }

    /** True while the worker waits for a snapshot. */
    public boolean isAwaitingSnapshot(String workerId) {
        WorkerEvents w = workers.get(workerId);
        if (w == null) {
            return false;
        }
        synchronized (w) {
            return w.awaiting;
        }
    }

    /** The next event id expected from the worker, or -1 if unknown. */
    public long nextEventId(String workerId) {
        WorkerEvents w = workers.get(workerId);
        if (w == null) {
            return -1;
        }
        synchronized (w) {
            return w.nextEventId;
        }
    }

    /** Verifies the invariants in the design notes; throws IllegalStateException if one fails. */
    public void checkInvariants() {
        index.checkInvariants();
        approx.checkInvariants();
        WorkerEvents[] slots = bySlot;
        int approximate = 0;
        for (int s = 0; s < slots.length; s++) {
            WorkerEvents w = slots[s];
            if (w == null) {
                if (index.blocksOf(s) != 0) {
                    throw new IllegalStateException("free slot " + s + " still holds " + index.blocksOf(s) + " blocks");
                }
                continue;
            }
            if (workers.get(w.id) != w || w.slot != s) {
                throw new IllegalStateException("slot " + s + " and worker map disagree about " + w.id);
            }
            synchronized (w) {
                if (!w.awaiting && !w.buffer.isEmpty()) {
                    throw new IllegalStateException("worker " + w.id + " in sync with " + w.buffer.size() + " buffered events");
                }
                if (w.buffer.size() > config.maxBufferedEvents()) {
                    throw new IllegalStateException("worker " + w.id + " buffers " + w.buffer.size() + " events");
                }
                if (!w.buffer.isEmpty() && w.buffer.firstKey() <= w.nextEventId) {
                    throw new IllegalStateException("worker " + w.id + " buffers event " + w.buffer.firstKey()
                            + " at or before next " + w.nextEventId);
                }
                if (w.approximate) {
                    approximate++;
                }
            }
        }
        if (workers.size() != java.util.Arrays.stream(slots).filter(java.util.Objects::nonNull).count()) {
            throw new IllegalStateException("worker map and slots differ in size");
        }
        if (approximate != approximateWorkers.get()) {
            throw new IllegalStateException("approximate workers " + approximateWorkers + " but counted " + approximate);
        }
    }
}
