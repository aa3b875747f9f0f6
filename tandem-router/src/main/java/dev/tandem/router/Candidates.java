package dev.tandem.router;

import dev.tandem.core.WorkerRole;
import java.util.Arrays;

/**
 * The workers a policy may choose from for one request, with what the router knows about each:
 * predicted overlap, prefill and decode blocks, KV cost, in-flight requests, busy or not.
 * Indices run over {@code 0 .. size()-1}; a policy returns one of them.
 *
 * <p>Reused across decisions (pooled by {@link Router}); valid only during
 * {@link RoutingPolicy#select}. Owned by one thread at a time.
 */
public final class Candidates {
    private final int blockSize;
    private final PrefixIndex index;
    final MatchScratch scratch;
    private final WorkerLoad[] workers;
    private final int[] overlapBlocks;
    private final double[] prefillBlocks;
    private final double[] decodeBlocks;
    private final double[] cost;
    private final boolean[] busy;
    /** Candidate index by worker slot, -1 if not a candidate: [maxWorkers]. */
    private final int[] indexBySlot;
    private int size;
    private int busyCount;
    private long membershipVersion;
    private WorkerRole pool;
    private double overlapWeight;

    Candidates(int maxWorkers, int blockSize, PrefixIndex index) {
        this.blockSize = blockSize;
        this.index = index;
        this.scratch = new MatchScratch(maxWorkers);
        this.workers = new WorkerLoad[maxWorkers];
        this.overlapBlocks = new int[maxWorkers];
        this.prefillBlocks = new double[maxWorkers];
        this.decodeBlocks = new double[maxWorkers];
        this.cost = new double[maxWorkers];
        this.busy = new boolean[maxWorkers];
        this.indexBySlot = new int[maxWorkers];
        Arrays.fill(indexBySlot, -1);
    }

    void reset(WorkerRole pool, long membershipVersion, double overlapWeight) {
        for (int i = 0; i < size; i++) {
            indexBySlot[workers[i].slot] = -1;
            workers[i] = null;
        }
        Arrays.fill(scratch.candidates, 0L);
        this.size = 0;
        this.busyCount = 0;
        this.pool = pool;
        this.membershipVersion = membershipVersion;
        this.overlapWeight = overlapWeight;
    }

    void add(WorkerLoad w) {
        workers[size] = w;
        indexBySlot[w.slot] = size;
        scratch.candidates[w.slot >>> 6] |= 1L << w.slot;
        size++;
    }

    /**
     * Fills overlap, prefill, decode, cost and busy from the prefix walk (scratch.depth) and the
     * workers' load. Prefill blocks are fractional: (uncached prompt tokens + queued prefill
     * tokens) / block size.
     */
    void score(int requestBlocks, int promptTokens, double busyKvUsage, long busyQueuedPrefillTokens) {
        for (int i = 0; i < size; i++) {
            WorkerLoad w = workers[i];
            int overlap = Math.min(scratch.depth[w.slot], requestBlocks);
            long queued = w.queuedPrefillTokens();
            long active = w.activeBlocks();
            overlapBlocks[i] = overlap;
            prefillBlocks[i] = (double) (promptTokens - (long) overlap * blockSize + queued) / blockSize;
            decodeBlocks[i] = active;
            cost[i] = overlapWeight * prefillBlocks[i] + decodeBlocks[i];
            busy[i] = WorkerLoad.kvUsage(w.lastReport(), active) >= busyKvUsage || queued >= busyQueuedPrefillTokens;
            if (busy[i]) {
                busyCount++;
            }
        }
    }

    WorkerLoad worker(int i) {
        return workers[i];
    }

    public int size() {
        return size;
    }

    /** Candidates not busy. */
    public int available() {
        return size - busyCount;
    }

    public String workerId(int i) {
        return workers[i].id;
    }

    /** The worker's slot in the prefix index (stable while it is registered). */
    public int slot(int i) {
        return workers[i].slot;
    }

    /** Candidate index of the worker in {@code slot}, or -1. */
    public int indexOfSlot(int slot) {
        return indexBySlot[slot];
    }

    public int overlapBlocks(int i) {
        return overlapBlocks[i];
    }

    /** Request tokens the worker lacks plus its queued prefill tokens, in blocks. */
    public double prefillBlocks(int i) {
        return prefillBlocks[i];
    }

    /** The worker's active blocks (last report corrected by this router's requests since). */
    public double decodeBlocks(int i) {
        return decodeBlocks[i];
    }

    /** {@code overlapWeight * prefillBlocks + decodeBlocks} with the effective weight. */
    public double cost(int i) {
        return cost[i];
    }

    /**
     * Blocks the event index holds for the worker (its cache's size as the router sees it, read
     * without locks, so possibly a few events stale). Computed on each call: a tie-break only.
     */
    public long cachedBlocks(int i) {
        return index.approximateBlocksOf(workers[i].slot);
    }

    public int inFlightRequests(int i) {
        return workers[i].inFlightRequests();
    }

    public boolean busy(int i) {
        return busy[i];
    }

    /** The pool the request asked for. */
    public WorkerRole pool() {
        return pool;
    }

    /** Changes whenever a worker joins or leaves (for policies that cache per membership). */
    public long membershipVersion() {
        return membershipVersion;
    }
}
