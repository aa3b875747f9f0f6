package dev.tandem.router;

import java.util.concurrent.locks.StampedLock;
import java.util.function.LongConsumer;

/**
 * Which workers hold which KV blocks: sequence hash -> set of worker slots, and for a request's
 * block hashes, how many leading blocks each worker holds.
 *
 * <pre>
 * Design
 *   Sequence hashes chain over every earlier block (BlockHasher), so a worker holds a request's
 *   first d blocks exactly when it holds hashes[0..d); a hash map walked from block 0 until the
 *   first miss is therefore a prefix match, and no tree is needed. match() keeps the set of
 *   candidate workers that have matched every block so far as a bit mask; at block i the
 *   workers that drop out of the mask get depth i, and the walk stops when the mask is empty.
 *   Workers are small ints ("slots", 0 .. maxWorkers-1) so that a set is maxWorkers/64 words.
 *
 *   The map is split into a power-of-two number of shards, each a flat MaskTable (no objects
 *   per entry) under its own StampedLock. The shard is chosen from the top bits of the mixed
 *   hash, the slot inside the shard from the low bits. Sharding lets two threads apply events
 *   at once and keeps a rebuild (growth, worker removal, pruning) to 1/shards of the entries.
 *
 *   Memory is bounded: each shard holds at most ceil(maxEntries / shards) entries; an insert
 *   past that prunes the shard down to pruneTargetRatio of its cap, dropping the entries with
 *   the oldest stamps (least recently stored or matched). Stamps come from the shard's write
 *   counter, so recency is measured in writes to that shard. Pruning, growth and clearing a
 *   worker rebuild one shard under its write lock: that shard's readers wait for the rebuild
 *   (about a millisecond for a 16 Ki-entry shard) while the other shards stay readable.
 *
 * Invariants (checkInvariants)
 *   - every shard's MaskTable invariants hold;
 *   - every shard holds at most its cap of entries;
 *   - every key lives in the shard its hash selects.
 *
 * Concurrency
 *   Safe for concurrent use. Mutators take the shard's write lock for one block at a time.
 *   Lookups run under an optimistic read (no write to shared state) validated after the
 *   probe; on failure they retry once under the read lock. A walk is therefore consistent per
 *   block, not as a whole: an event applied mid-walk may be seen for later blocks only, which
 *   is what a router acting on events that are already in flight sees anyway.
 *   After a validated hit, the reader writes the shard's current write counter into the
 *   entry's stamp with a plain store, unless the stamp is already within touchSlack of it. The race is benign: a lost or misplaced stamp only makes
 *   pruning slightly less exact; membership never depends on stamps.
 *   Ordering of one worker's events is the caller's job (KvIndexer applies them in order).
 *
 * References
 *   Dynamo's KvIndexer (lib/llm/src/kv_router/indexer.rs) keeps a radix tree with a worker
 *   set per node in a single-threaded actor; this is the same lookup as a sharded flat map.
 *   StampedLock's optimistic-read idiom (java.util.concurrent.locks.StampedLock Javadoc).
 *   RouterBenchmark measures match() and event application (docs/benchmarks.md, Router).
 * </pre>
 */
public final class PrefixIndex {

    /** A shard: a table and the lock that guards it. */
    private static final class Shard {
        final StampedLock lock = new StampedLock();
        final MaskTable table;
        /** Write counter used as the recency stamp; written under the write lock, read racily. */
        long tick;
        long pruned;

        Shard(int maxWorkers, int initialCapacity) {
            this.table = new MaskTable(maxWorkers, initialCapacity);
        }
    }

    /** Blocks whose home slots are read ahead of the walk (see prefetch). */
    static final int PREFETCH_BLOCKS = 16;
    /** Offset in match() scratch of the prefetched blocks' mixed hashes (after 2 * 64 mask words). */
    private static final int MIXED = 2 * 64;

    private final Shard[] shards;
    /** Offset in match() scratch where prefetch() leaves the sum of its loads, keeping them alive. */
    private static final int SINK = MIXED + PREFETCH_BLOCKS;
    private final int shardShift;
    private final int maxWorkers;
    private final int words;
    private final int shardCap;
    private final int shardPruneTarget;
    /**
     * Writes by which a matched entry's stamp may lag before a reader refreshes it: 1/1024 of a
     * shard's cap, the resolution of the pruning histogram once stamps span a full shard.
     */
    private final long touchSlack;

    /**
     * @param maxWorkers       worker slots, 1 .. 4096
     * @param maxEntries       most distinct block hashes kept (across shards, rounded up to a
     *                         multiple of the shard count)
     * @param shardCount       a power of two, 1 .. 1024; 0 picks one (about 16 Ki entries a shard, at most 64)
     * @param pruneTargetRatio fraction of a shard's cap left after pruning, in (0, 1)
     */
    public PrefixIndex(int maxWorkers, long maxEntries, int shardCount, double pruneTargetRatio) {
        if (maxWorkers < 1 || maxWorkers > 4096) {
            throw new IllegalArgumentException("maxWorkers must be in [1, 4096], got " + maxWorkers);
        }
        if (maxEntries < 1 || maxEntries > (1L << 30)) {
            throw new IllegalArgumentException("maxEntries must be in [1, 2^30], got " + maxEntries);
        }
        if (!(pruneTargetRatio > 0 && pruneTargetRatio < 1)) {
            throw new IllegalArgumentException("pruneTargetRatio must be in (0, 1), got " + pruneTargetRatio);
        }
        int shardsWanted = shardCount == 0 ? autoShards(maxEntries) : shardCount;
        if (shardsWanted < 1 || shardsWanted > 1024 || Integer.bitCount(shardsWanted) != 1) {
            throw new IllegalArgumentException("shardCount must be a power of two in [1, 1024], got " + shardCount);
        }
        this.maxWorkers = maxWorkers;
        this.words = (maxWorkers + 63) >>> 6;
        this.shardCap = (int) ((maxEntries + shardsWanted - 1) / shardsWanted);
        this.shardPruneTarget = Math.max(0, (int) (shardCap * pruneTargetRatio));
        this.touchSlack = shardCap >>> 10;
        this.shards = new Shard[shardsWanted];
        for (int i = 0; i < shardsWanted; i++) {
            shards[i] = new Shard(maxWorkers, Math.min(shardCap, 64));
        }
        this.shardShift = 64 - Integer.numberOfTrailingZeros(shardsWanted);
    }

    private static int autoShards(long maxEntries) {
        long wanted = Math.max(1, maxEntries / 16_384);
        return (int) Math.min(64, Long.highestOneBit(wanted));
    }

    private Shard shardOf(long mixed) {
        // shardShift == 64 for one shard: Java masks the shift count, so use a conditional.
        return shards.length == 1 ? shards[0] : shards[(int) (mixed >>> shardShift)];
    }

    public int maxWorkers() {
        return maxWorkers;
    }

    /** Mask words per block: ceil(maxWorkers / 64). */
    public int words() {
        return words;
    }

    /** Longs of scratch that match() needs. */
    public static int scratchLength() {
        return SINK + 1;
    }

    public int shardCount() {
        return shards.length;
    }

    /** Records that worker {@code slot} holds {@code hash}; true if it did not before. */
    public boolean store(int slot, long hash) {
        checkSlot(slot);
        long key = MaskTable.storedKey(hash);
        long mixed = MaskTable.mix(key);
        Shard s = shardOf(mixed);
        long stamp = s.lock.writeLock();
        try {
            boolean added = s.table.add(key, mixed, slot, ++s.tick);
            if (s.table.size() > shardCap) {
                s.pruned += s.table.pruneTo(shardPruneTarget);
            }
            return added;
        } finally {
            s.lock.unlockWrite(stamp);
        }
    }

    /** Records that worker {@code slot} no longer holds {@code hash}; true if it did. */
    public boolean remove(int slot, long hash) {
        checkSlot(slot);
        long key = MaskTable.storedKey(hash);
        long mixed = MaskTable.mix(key);
        Shard s = shardOf(mixed);
        long stamp = s.lock.writeLock();
        try {
            s.tick++;
            return s.table.remove(key, mixed, slot);
        } finally {
            s.lock.unlockWrite(stamp);
        }
    }

    /**
     * Drops every block of worker {@code slot} (it left, cleared its cache, or is being
     * resynchronised from a snapshot). Rebuilds each shard holding any, one shard at a time.
     *
     * @return blocks dropped
     */
    public long clearSlot(int slot) {
        checkSlot(slot);
        long dropped = 0;
        for (Shard s : shards) {
            long stamp = s.lock.writeLock();
            try {
                s.tick++;
                dropped += s.table.clearSlot(slot);
            } finally {
                s.lock.unlockWrite(stamp);
            }
        }
        return dropped;
    }

    /** True if worker {@code slot} holds {@code hash}. */
    public boolean contains(int slot, long hash) {
        checkSlot(slot);
        long[] mask = new long[words];
        lookup(MaskTable.storedKey(hash), mask, false);
        return (mask[slot >>> 6] & (1L << slot)) != 0;
    }

    /**
     * For each candidate worker, the number of leading blocks of {@code hashes[0 .. count)} it
     * holds. Writes {@code depthBySlot[s]} for every slot s set in {@code candidates} and leaves
     * other entries alone. Marks matched blocks as recently used.
     *
     * @param candidates  worker set, {@link #words()} longs; not modified
     * @param scratch     {@link #scratchLength()} longs of caller-owned scratch space
     * @return the deepest match over all candidates
     */
    public int match(long[] hashes, int count, long[] candidates, long[] scratch, int[] depthBySlot) {
        if (words == 1) {
            return match1(hashes, count, candidates[0], scratch, depthBySlot);
        }
        long[] active = scratch;                 // [0, words): workers matched so far
        int found = words;                       // [words, 2 * words): this block's holders
                                                 // [MIXED, MIXED + PREFETCH_BLOCKS): mixed hashes
        System.arraycopy(candidates, 0, active, 0, words);
        int deepest = 0;
        int i = 0;
        boolean any = anySet(active, words);
        for (; i < count && any; i++) {
            if (i % PREFETCH_BLOCKS == 0) {
                prefetch(hashes, i, Math.min(count, i + PREFETCH_BLOCKS), scratch);
            }
            lookup(MaskTable.storedKey(hashes[i]), scratch[MIXED + i % PREFETCH_BLOCKS], scratch, found, true);
            any = false;
            for (int w = 0; w < words; w++) {
                long m = scratch[found + w];
                long gone = active[w] & ~m;
                if (gone != 0) {
                    assignDepth(gone, w, i, depthBySlot);
                    deepest = i;
                }
                active[w] &= m;
                any |= active[w] != 0;
            }
        }
        for (int w = 0; w < words; w++) {
            if (active[w] != 0) {
                assignDepth(active[w], w, i, depthBySlot);
                deepest = i;
            }
        }
        return deepest;
    }

    /** The one-word case (up to 64 workers), kept apart so the walk touches no mask array. */
    private int match1(long[] hashes, int count, long candidates, long[] scratch, int[] depthBySlot) {
        long active = candidates;
        int deepest = 0;
        int i = 0;
        while (i < count && active != 0) {
            int end = Math.min(count, i + PREFETCH_BLOCKS);
            prefetch(hashes, i, end, scratch);
            for (; i < end && active != 0; i++) {
                long m = lookup1(MaskTable.storedKey(hashes[i]), scratch[MIXED + i % PREFETCH_BLOCKS]);
                long gone = active & ~m;
                if (gone != 0) {
                    assignDepth(gone, 0, i, depthBySlot);
                    deepest = i;
                }
                active &= m;
            }
        }
        if (active != 0) {
            assignDepth(active, 0, i, depthBySlot);
            deepest = i;
        }
        return deepest;
    }

    /**
     * Group prefetching: reads the home slot of blocks [from, end) in a tight loop of independent
     * loads, so their cache misses overlap, before the walk probes them one by one (with a lock
     * check, mask logic and a branch between probes, the CPU would overlap only two or three).
     * Remembers each block's mixed hash in scratch. The reads are plain and may see a table
     * being replaced: they only warm the cache. RouterBenchmark.decidePrehashed measures it
     * (docs/benchmarks.md, Router).
     */
    private void prefetch(long[] hashes, int from, int end, long[] scratch) {
        long sink = 0;
        for (int j = from; j < end; j++) {
            long mixed = MaskTable.mix(MaskTable.storedKey(hashes[j]));
            scratch[MIXED + j % PREFETCH_BLOCKS] = mixed;
            Shard s = shardOf(mixed);
            MaskTable.Table t = s.table.table;
            sink += t.entries[((int) mixed & t.slotMask) * s.table.stride];
        }
        scratch[SINK] += sink;
    }

    private static boolean anySet(long[] mask, int words) {
        for (int w = 0; w < words; w++) {
            if (mask[w] != 0) {
                return true;
            }
        }
        return false;
    }

    private static void assignDepth(long bits, int word, int depth, int[] depthBySlot) {
        while (bits != 0) {
            depthBySlot[(word << 6) + Long.numberOfTrailingZeros(bits)] = depth;
            bits &= bits - 1;
        }
    }

    /** Mask word 0 of {@code key}, under an optimistic read with one locked retry. */
    private long lookup1(long key, long mixed) {
        Shard s = shardOf(mixed);
        int stride = s.table.stride;
        long stamp = s.lock.tryOptimisticRead();
        MaskTable.Table t = s.table.table;
        int base = MaskTable.find(t, stride, key, mixed);
        long m = base >= 0 ? t.entries[base + MaskTable.MASK] : 0;
        if (!s.lock.validate(stamp)) {
            stamp = s.lock.readLock();
            try {
                t = s.table.table;
                base = MaskTable.find(t, stride, key, mixed);
                m = base >= 0 ? t.entries[base + MaskTable.MASK] : 0;
            } finally {
                s.lock.unlockRead(stamp);
            }
        }
        if (base >= 0) {
            MaskTable.touch(t, base, s.tick, touchSlack);
        }
        return m;
    }

    private void lookup(long key, long[] out, boolean touch) {
        lookup(key, MaskTable.mix(key), out, 0, touch);
    }

    private void lookup(long key, long mixed, long[] out, int offset, boolean touch) {
        Shard s = shardOf(mixed);
        int stride = s.table.stride;
        long stamp = s.lock.tryOptimisticRead();
        MaskTable.Table t = s.table.table;
        int base = copyMask(t, stride, key, mixed, out, offset);
        if (!s.lock.validate(stamp)) {
            stamp = s.lock.readLock();
            try {
                t = s.table.table;
                base = copyMask(t, stride, key, mixed, out, offset);
            } finally {
                s.lock.unlockRead(stamp);
            }
        }
        if (touch && base >= 0) {
            MaskTable.touch(t, base, s.tick, touchSlack);
        }
    }

    private int copyMask(MaskTable.Table t, int stride, long key, long mixed, long[] out, int offset) {
        int base = MaskTable.find(t, stride, key, mixed);
        for (int w = 0; w < words; w++) {
            out[offset + w] = base >= 0 ? t.entries[base + MaskTable.MASK + w] : 0;
        }
        return base;
    }

    /** Distinct block hashes indexed (a moment's view; shards are read one after another). */
    public long size() {
        long total = 0;
        for (Shard s : shards) {
            long stamp = s.lock.readLock();
            try {
                total += s.table.size();
            } finally {
                s.lock.unlockRead(stamp);
            }
        }
        return total;
    }

    /** Blocks indexed for worker {@code slot}. */
    public long blocksOf(int slot) {
        checkSlot(slot);
        long total = 0;
        for (Shard s : shards) {
            long stamp = s.lock.readLock();
            try {
                total += s.table.slotCount(slot);
            } finally {
                s.lock.unlockRead(stamp);
            }
        }
        return total;
    }

    /**
     * Blocks indexed for worker {@code slot}, read without locks (a tie-break for routing, where a
     * count that is a few events stale does no harm; {@link #blocksOf} is exact).
     */
    long approximateBlocksOf(int slot) {
        long total = 0;
        for (Shard s : shards) {
            total += s.table.slotCount(slot);
        }
        return total;
    }

    /** Entries dropped by pruning since creation. */
    public long prunedEntries() {
        long total = 0;
        for (Shard s : shards) {
            long stamp = s.lock.readLock();
            try {
                total += s.pruned;
            } finally {
                s.lock.unlockRead(stamp);
            }
        }
        return total;
    }

    /** Calls {@code visitor} with every hash worker {@code slot} holds, shard by shard. */
    public void forEachHashOf(int slot, LongConsumer visitor) {
        checkSlot(slot);
        for (Shard s : shards) {
            long stamp = s.lock.readLock();
            try {
                s.table.forEachOf(slot, visitor);
            } finally {
                s.lock.unlockRead(stamp);
            }
        }
    }

    /** Receives (block hash, worker slot) pairs. */
    @FunctionalInterface
    public interface HolderVisitor {
        void visit(long hash, int slot);
    }

    /** Calls {@code visitor} once per (hash, worker) pair held, in one pass over every shard. */
    public void forEachHolder(HolderVisitor visitor) {
        for (Shard s : shards) {
            long stamp = s.lock.readLock();
            try {
                s.table.forEachHolder(visitor);
            } finally {
                s.lock.unlockRead(stamp);
            }
        }
    }

    /** Verifies the invariants in the design notes; throws IllegalStateException if one fails. */
    public void checkInvariants() {
        for (int i = 0; i < shards.length; i++) {
            Shard s = shards[i];
            long stamp = s.lock.readLock();
            try {
                s.table.checkInvariants();
                if (s.table.size() > shardCap) {
                    throw new IllegalStateException("shard " + i + " holds " + s.table.size()
                            + " entries, cap " + shardCap);
                }
                long[] e = s.table.table.entries;
                for (int base = 0; base < e.length; base += s.table.stride) {
                    long k = e[base + MaskTable.KEY];
                    if (k != 0 && shardOf(MaskTable.mix(k)) != s) {
                        throw new IllegalStateException("key " + Long.toHexString(k) + " in shard " + i
                                + " but hashes elsewhere");
                    }
                }
            } finally {
                s.lock.unlockRead(stamp);
            }
        }
    }

    private void checkSlot(int slot) {
        if (slot < 0 || slot >= maxWorkers) {
            throw new IllegalArgumentException("worker slot " + slot + " outside [0, " + maxWorkers + ")");
        }
    }
}
