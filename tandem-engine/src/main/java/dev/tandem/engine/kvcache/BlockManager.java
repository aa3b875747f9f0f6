package dev.tandem.engine.kvcache;

import dev.tandem.core.KvEvent;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvSnapshot;
import java.util.Arrays;
import java.util.HashMap;

/**
 * Bookkeeping of one engine's KV blocks: which are free, which sequences use them, and which
 * hold a registered prefix that a later request may reuse.
 *
 * <h2>Design</h2>
 * Every block is in exactly one of three states:
 * <pre>
 *   FREE    refCount 0, not registered     on the free stack (LIFO)
 *   CACHED  refCount 0, registered or tail on the LRU list (head = least recently released)
 *   ACTIVE  refCount &gt; 0                  in one or more block tables, or pinned
 * </pre>
 * A block becomes registered when a sequence has computed all of its positions
 * ({@link #commit}): it is entered in a map from its chained sequence hash ({@code BlockHasher})
 * to the block id. A new sequence looks its prompt's hashes up in order and reuses every leading
 * registered block ({@link #acquirePrefix}); the first miss ends the match, so only a true prefix
 * is shared. Partial blocks are never registered and so never shared through the hash map: they
 * have no sequence hash. If a full block's hash is
 * already registered under another block (two sequences computed the same prefix at once), the
 * second block simply stays unregistered; the sequence keeps using it.
 * <p>
 * <b>Tails.</b> When a sequence ends ({@link #release(BlockTable, int[], int)}), its last,
 * partly computed block is kept as a <em>tail</em>: CACHED, keyed by the sequence hash of the
 * block before it (its parent) and remembering its computed tokens. A later sequence whose full
 * blocks match up to that parent and whose next tokens begin with the tail's tokens takes the
 * tail block over ({@link #acquireTail}) and computes only from where they differ: a follow-up
 * turn of a conversation reuses the previous reply to the token, not just to the last full block
 * (SGLang's radix cache has this at token granularity; vLLM's block cache does not). The block
 * is taken, not shared or copied: the new sequence overwrites its positions past the common
 * part, so the tail entry goes. One tail per parent (the latest); tails emit no KV events (the
 * router indexes full blocks only) and are evicted with the other CACHED blocks.
 * <p>
 * Allocation takes a FREE block first; only when none is left does it evict the CACHED block at
 * the head of the LRU list, unregistering it. A released sequence returns its blocks last to
 * first, so the tail of a prompt is evicted before its head (vLLM's order): the head of a prompt
 * is the part other requests are most likely to share.
 * <p>
 * Every registration, eviction and clear is reported as a {@link KvEvent} numbered 0, 1, 2, ...
 * without gaps, synchronously, to the one listener given at construction (the engine fans it
 * out). {@link #snapshot()} returns the registered hashes together with the id of the last event,
 * so replaying events 0..lastEventId from empty yields exactly the snapshot.
 *
 * <h2>Invariants</h2> (checked by {@link #checkInvariants()})
 * <ul>
 *   <li>refCount &gt;= 0; every block is in exactly one state; the counters match the states;</li>
 *   <li>a block is registered iff the hash map maps its hash to it; map size = registered blocks;</li>
 *   <li>a block is a tail iff the tail map maps its parent to it; a tail is never registered and
 *       holds fewer tokens than a block;</li>
 *   <li>the LRU list holds exactly the CACHED blocks, the free stack exactly the FREE blocks.</li>
 * </ul>
 * Reference counts are checked against the owners' tables by the scheduler's invariant check.
 * <p>
 * Over 500 lines on purpose: the three states, the prefix map, the tails and their invariant
 * check change together; split apart, each transition would be checked against state it cannot see.
 *
 * <h2>Concurrency</h2>
 * Not thread-safe: owned by the engine's scheduler thread. Events are delivered on that thread.
 *
 * <h2>References</h2>
 * vLLM v1 {@code KVCacheManager} / {@code BlockPool} (free block queue with cached blocks kept
 * until evicted, reverse-order freeing); NVIDIA Dynamo KV events (stored with parent hash,
 * removed, cleared) and its mocker's LRU evictor.
 */
public final class BlockManager {
    private static final int NONE = -1;
    /** Parent key of a tail that is a sequence's block 0. */
    private static final long ROOT = 0x5441494C5F524F4FL;

    private final int totalBlocks;
    private final int blockSize;
    private final KvEventListener events;

    private final int[] refCount;      // [block] references from tables and pins
    private final boolean[] registered; // [block] entered in hashToBlock under blockHash
    private final long[] blockHash;    // [block] sequence hash while registered
    private final HashBlockMap hashToBlock;

    private final int[][] tailTokens;  // [block] computed tokens of a tail block, null if not a tail
    private final long[] tailParent;   // [block] sequence hash of the block before a tail (ROOT for block 0)
    private final HashMap<Long, Integer> tails = new HashMap<>(); // parent -> tail block

    private final int[] freeStack;     // FREE blocks, top at freeTop - 1
    private int freeTop;

    private final int[] lruPrev;       // [block] CACHED list links, NONE at the ends
    private final int[] lruNext;
    private int lruHead = NONE;        // least recently released: evicted first
    private int lruTail = NONE;
    private int cachedCount;
    private int activeCount;

    private long nextEventId;
    private final long[] evictedScratch; // hashes evicted within one allocate call

    /**
     * @param totalBlocks blocks in the pool
     * @param blockSize   tokens per block
     * @param events      receives every KV event, in order, on the owning thread
     */
    public BlockManager(int totalBlocks, int blockSize, KvEventListener events) {
        if (totalBlocks <= 0 || blockSize <= 0) {
            throw new IllegalArgumentException("totalBlocks=" + totalBlocks + " blockSize=" + blockSize);
        }
        this.totalBlocks = totalBlocks;
        this.blockSize = blockSize;
        this.events = events == null ? e -> { } : events;
        this.refCount = new int[totalBlocks];
        this.registered = new boolean[totalBlocks];
        this.blockHash = new long[totalBlocks];
        this.hashToBlock = new HashBlockMap(totalBlocks);
        this.tailTokens = new int[totalBlocks][];
        this.tailParent = new long[totalBlocks];
        this.freeStack = new int[totalBlocks];
        this.lruPrev = new int[totalBlocks];
        this.lruNext = new int[totalBlocks];
        this.evictedScratch = new long[totalBlocks];
        // block 0 on top, so that a fresh manager hands out 0, 1, 2, ...
        for (int b = 0; b < totalBlocks; b++) {
            freeStack[b] = totalBlocks - 1 - b;
        }
        freeTop = totalBlocks;
        Arrays.fill(lruPrev, NONE);
        Arrays.fill(lruNext, NONE);
    }

    public int totalBlocks() {
        return totalBlocks;
    }

    public int blockSize() {
        return blockSize;
    }

    /** Blocks an allocation could obtain now: FREE plus CACHED (evictable). */
    public int allocatableBlocks() {
        return freeTop + cachedCount;
    }

    /** Blocks with refCount 0 and no registered prefix. */
    public int freeBlocks() {
        return freeTop;
    }

    /** Tail blocks held now (partly filled last blocks of ended sequences; a subset of the cached ones). */
    public int tailBlocks() {
        return tails.size();
    }

    /** Blocks with refCount 0 that still hold a registered prefix or a tail. */
    public int cachedBlocks() {
        return cachedCount;
    }

    /** Blocks referenced by a sequence or a pin. */
    public int activeBlocks() {
        return activeCount;
    }

    /** Registered blocks, active or cached. */
    public int registeredBlocks() {
        return hashToBlock.size();
    }

    /** Id of the last event emitted, -1 before the first. */
    public long lastEventId() {
        return nextEventId - 1;
    }

    public int refCount(int block) {
        return refCount[block];
    }

    public boolean isRegistered(int block) {
        return registered[block];
    }

    /** The block registered under {@code sequenceHash}, or -1. */
    public int lookup(long sequenceHash) {
        return hashToBlock.get(sequenceHash);
    }

    /**
     * How many of the table's leading hashed blocks (at most {@code maxBlocks}) are registered,
     * stopping at the first miss. Changes nothing.
     */
    public int matchPrefix(BlockTable table, int maxBlocks) {
        int limit = Math.min(maxBlocks, table.hashedCount());
        int n = 0;
        while (n < limit && hashToBlock.get(table.sequenceHash(n)) >= 0) {
            n++;
        }
        return n;
    }

    /** Of the table's first {@code count} matched blocks, how many are CACHED (refCount 0). */
    public int cachedAmongPrefix(BlockTable table, int count) {
        int n = 0;
        for (int i = 0; i < count; i++) {
            int b = hashToBlock.get(table.sequenceHash(i));
            if (b < 0) {
                throw new IllegalStateException("prefix block " + i + " is not registered");
            }
            if (refCount[b] == 0) {
                n++;
            }
        }
        return n;
    }

    /**
     * Puts the first {@code count} matched blocks (see {@link #matchPrefix}) into the empty table
     * and takes a reference on each.
     */
    public void acquirePrefix(BlockTable table, int count) {
        if (table.blockCount != 0) {
            throw new IllegalStateException("acquirePrefix needs an empty table, has " + table.blockCount);
        }
        for (int i = 0; i < count; i++) {
            int b = hashToBlock.get(table.sequenceHash(i));
            if (b < 0) {
                throw new IllegalStateException("prefix block " + i + " is not registered");
            }
            retain(b);
            table.append(b);
        }
        table.committedCount = count;
    }

    /**
     * Grows the table to cover {@code tokenCount} positions, all or nothing, evicting cached
     * blocks least-recently-used first when no free block is left.
     *
     * @return false, changing nothing, if not enough blocks are allocatable
     */
    public boolean allocate(BlockTable table, int tokenCount) {
        int need = table.blocksFor(tokenCount) - table.blockCount;
        if (need <= 0) {
            return true;
        }
        if (table.blockCount + need > table.capacityBlocks()) {
            throw new IllegalStateException("table capacity " + table.capacityBlocks() + " blocks < "
                    + (table.blockCount + need) + " for " + tokenCount + " tokens");
        }
        if (need > allocatableBlocks()) {
            return false;
        }
        int evicted = 0;
        for (int i = 0; i < need; i++) {
            int b;
            if (freeTop > 0) {
                b = freeStack[--freeTop];
            } else {
                b = lruHead;
                lruUnlink(b);
                cachedCount--;
                if (tailTokens[b] != null) {
                    forgetTail(b); // no event: the router never knew it
                } else {
                    evictedScratch[evicted++] = blockHash[b];
                    unregister(b);
                }
            }
            refCount[b] = 1;
            activeCount++;
            table.append(b);
        }
        if (evicted > 0) {
            events.onKvEvent(new KvEvent.Removed(nextEventId++, Arrays.copyOf(evictedScratch, evicted)));
        }
        return true;
    }

    /**
     * Registers every block of the table whose positions are all computed
     * ({@code computedTokens}) and whose hash is known, emitting one Stored event per run of
     * newly registered consecutive blocks.
     */
    public void commit(BlockTable table, int computedTokens) {
        int limit = Math.min(Math.min(computedTokens / blockSize, table.hashedCount()), table.blockCount);
        int runStart = NONE;
        for (int i = table.committedCount; i < limit; i++) {
            long hash = table.sequenceHash(i);
            int block = table.blocks()[i];
            int existing = hashToBlock.get(hash);
            if (existing < 0 && !registered[block]) {
                register(block, hash);
                if (runStart == NONE) {
                    runStart = i;
                }
            } else {
                // already registered: a duplicate computed concurrently, or our own block
                if (runStart != NONE) {
                    emitStored(table, runStart, i);
                    runStart = NONE;
                }
            }
        }
        if (runStart != NONE) {
            emitStored(table, runStart, limit);
        }
        if (limit > table.committedCount) {
            table.committedCount = limit;
        }
    }

    /**
     * Drops the table's references, last block first; blocks nobody else uses become CACHED
     * (registered) or FREE. The table ends up empty.
     */
    public void release(BlockTable table) {
        int[] blocks = table.blocks();
        for (int i = table.blockCount - 1; i >= 0; i--) {
            release(blocks[i]);
        }
        table.clearBlocks();
    }

    /**
     * Releases the table of a sequence whose first {@code computedTokens} positions hold K/V
     * ({@code tokens} its token ids), keeping its last, partly computed block as a tail when this
     * table is its only user and the block before it is hashed.
     */
    public void release(BlockTable table, int[] tokens, int computedTokens) {
        int index = computedTokens / blockSize;
        int inBlock = computedTokens % blockSize;
        if (inBlock > 0 && index < table.blockCount && index <= table.hashedCount()) {
            int b = table.blocks()[index];
            if (refCount[b] == 1 && !registered[b] && tailTokens[b] == null) {
                long parent = index == 0 ? ROOT : table.sequenceHash(index - 1);
                Integer old = tails.get(parent);
                if (old != null) {
                    discardTail(old); // one tail per parent: the latest
                }
                tailTokens[b] = Arrays.copyOfRange(tokens, index * blockSize, computedTokens);
                tailParent[b] = parent;
                tails.put(parent, b);
            }
        }
        release(table);
    }

    /**
     * How many tokens of {@code tokens[from .. from + maxTokens)} a tail holds, where {@code from}
     * is {@code fullBlocks * blockSize} and the tail's parent is the table's block
     * {@code fullBlocks - 1} (or the start). Changes nothing; 0 if there is no such tail.
     */
    public int matchTail(BlockTable table, int fullBlocks, int[] tokens, int maxTokens) {
        if (fullBlocks > table.hashedCount() || maxTokens <= 0 || tails.isEmpty()) {
            return 0;
        }
        Integer b = tails.get(fullBlocks == 0 ? ROOT : table.sequenceHash(fullBlocks - 1));
        if (b == null) {
            return 0;
        }
        int[] held = tailTokens[b];
        int from = fullBlocks * blockSize;
        int limit = Math.min(held.length, maxTokens);
        int n = 0;
        while (n < limit && held[n] == tokens[from + n]) {
            n++;
        }
        return n;
    }

    /**
     * Appends the tail found by {@link #matchTail} to the table (whose {@code fullBlocks} leading
     * blocks are acquired) and takes it over: the block is ACTIVE, no longer a tail.
     */
    public void acquireTail(BlockTable table, int fullBlocks) {
        if (table.blockCount != fullBlocks) {
            throw new IllegalStateException("acquireTail after " + fullBlocks + " blocks, table has " + table.blockCount);
        }
        Integer b = tails.get(fullBlocks == 0 ? ROOT : table.sequenceHash(fullBlocks - 1));
        if (b == null) {
            throw new IllegalStateException("no tail after block " + fullBlocks);
        }
        forgetTail(b);
        lruUnlink(b);
        cachedCount--;
        refCount[b] = 1;
        activeCount++;
        table.append(b);
    }

    /** Takes one more reference on an ACTIVE or CACHED block (a pin). */
    public void retain(int block) {
        if (refCount[block] == 0) {
            if (!registered[block]) {
                throw new IllegalStateException("cannot retain free or tail block " + block);
            }
            lruUnlink(block);
            cachedCount--;
            activeCount++;
        }
        refCount[block]++;
    }

    /** Drops one reference (a pin, or one table entry). */
    public void release(int block) {
        if (refCount[block] <= 0) {
            throw new IllegalStateException("block " + block + " released with refCount " + refCount[block]);
        }
        if (--refCount[block] == 0) {
            activeCount--;
            if (registered[block] || tailTokens[block] != null) {
                lruAppend(block);
                cachedCount++;
            } else {
                freeStack[freeTop++] = block;
            }
        }
    }

    /**
     * Unregisters every block (active ones stay with their sequences and are never shared
     * again), moves cached blocks to the free stack and emits a Cleared event.
     */
    public void clear() {
        while (lruHead != NONE) {
            int b = lruHead;
            lruUnlink(b);
            if (tailTokens[b] != null) {
                forgetTail(b); // no event: the router never knew it
            } else {
                unregister(b);
            }
            freeStack[freeTop++] = b;
        }

        cachedCount = 0;
        hashToBlock.forEach((hash, block) -> registered[block] = false);
        hashToBlock.clear();
        events.onKvEvent(new KvEvent.Cleared(nextEventId++));
    }

    /** The registered hashes and the id of the last event they reflect. */
    public KvSnapshot snapshot() {
        long[] hashes = new long[hashToBlock.size()];
        int n = hashToBlock.keys(hashes);
        if (n != hashes.length) {
            throw new IllegalStateException("hash map size " + hashes.length + " but " + n + " keys");
        }
        return new KvSnapshot(lastEventId(), hashes);
    }

    /** Checks every invariant listed in the class notes; throws IllegalStateException naming the first broken one. */
    public void checkInvariants() {
        boolean[] onFree = new boolean[totalBlocks];
        for (int i = 0; i < freeTop; i++) {
            int b = freeStack[i];
            check(!onFree[b], "block %d twice on the free stack", b);
            onFree[b] = true;
        }
        boolean[] onLru = new boolean[totalBlocks];
        int lruLength = 0;
        int prev = NONE;
        for (int b = lruHead; b != NONE; b = lruNext[b]) {
            check(!onLru[b], "LRU list has a cycle at block %d", b);
            check(lruPrev[b] == prev, "LRU back link of block %d is %d, expected %d", b, lruPrev[b], prev);
            onLru[b] = true;
            lruLength++;
            prev = b;
        }
        check(prev == lruTail, "LRU tail %d but list ends at %d", lruTail, prev);
        int active = 0;
        int registeredCount = 0;
        for (int b = 0; b < totalBlocks; b++) {
            check(refCount[b] >= 0, "block %d has refCount %d", b, refCount[b]);
            if (registered[b]) {
                registeredCount++;
                check(hashToBlock.get(blockHash[b]) == b, "registered block %d not mapped by its hash", b);
            }
            if (tailTokens[b] != null) {
                check(!registered[b], "tail block %d is also registered", b);
                check(tailTokens[b].length > 0 && tailTokens[b].length < blockSize, "tail block %d holds %d tokens",
                        b, tailTokens[b].length);
                check(Integer.valueOf(b).equals(tails.get(tailParent[b])), "tail block %d not mapped by its parent", b);
                check(refCount[b] == 0, "tail block %d has refCount %d", b, refCount[b]);
            }
            if (refCount[b] > 0) {
                active++;
                check(!onFree[b] && !onLru[b], "active block %d is also free or cached", b);
            } else if (registered[b] || tailTokens[b] != null) {
                check(onLru[b] && !onFree[b], "cached block %d is not (only) on the LRU list", b);
            } else {
                check(onFree[b] && !onLru[b], "free block %d is not (only) on the free stack", b);
            }
        }
        check(active == activeCount, "activeCount %d but %d blocks are referenced", activeCount, active);
        check(lruLength == cachedCount, "cachedCount %d but LRU list holds %d", cachedCount, lruLength);
        check(registeredCount == hashToBlock.size(), "%d registered blocks but map holds %d",
                registeredCount, hashToBlock.size());
        check(active + lruLength + freeTop == totalBlocks, "active %d + cached %d + free %d != total %d",
                active, lruLength, freeTop, totalBlocks);
        tails.forEach((parent, block) -> check(tailTokens[block] != null && tailParent[block] == parent,
                "tail entry %s -> %d disagrees with the block", Long.toHexString(parent), block));
        hashToBlock.forEach((hash, block) -> check(registered[block] && blockHash[block] == hash,
                "map entry %s -> %d disagrees with the block", Long.toHexString(hash), block));
    }

    private void emitStored(BlockTable table, int from, int to) {
        int n = to - from;
        long[] seq = new long[n];
        long[] local = new long[n];
        for (int i = 0; i < n; i++) {
            seq[i] = table.sequenceHash(from + i);
            local[i] = table.localHash(from + i);
        }
        boolean hasParent = from > 0;
        long parent = hasParent ? table.sequenceHash(from - 1) : 0L;
        events.onKvEvent(new KvEvent.Stored(nextEventId++, hasParent, parent, seq, local));
    }

    /** Forgets that {@code block} is a tail (it stays where it is in the LRU/free structures); tails emit no events. */
    private void forgetTail(int block) {
        tails.remove(tailParent[block]);
        tailTokens[block] = null;
    }

    /** A CACHED tail replaced by a newer one with the same parent: FREE now. */
    private void discardTail(int block) {
        forgetTail(block);
        lruUnlink(block);
        cachedCount--;
        freeStack[freeTop++] = block;
    }

    private void register(int block, long hash) {
        hashToBlock.putNew(hash, block);
        registered[block] = true;
        blockHash[block] = hash;
    }

    private void unregister(int block) {
        hashToBlock.remove(blockHash[block]);
        registered[block] = false;
    }

    private void lruAppend(int b) {
        lruPrev[b] = lruTail;
        lruNext[b] = NONE;
        if (lruTail == NONE) {
            lruHead = b;
        } else {
            lruNext[lruTail] = b;
        }
        lruTail = b;
    }

    private void lruUnlink(int b) {
        int p = lruPrev[b];
        int n = lruNext[b];
        if (p == NONE) {
            lruHead = n;
        } else {
            lruNext[p] = n;
        }
        if (n == NONE) {
            lruTail = p;
        } else {
            lruPrev[n] = p;
        }
        lruPrev[b] = NONE;
        lruNext[b] = NONE;
    }

    private static void check(boolean ok, String format, Object... args) {
        if (!ok) {
            throw new IllegalStateException("block manager invariant broken: " + String.format(format, args));
        }
    }

    @Override
    public String toString() {
        return "BlockManager[total=" + totalBlocks + ", active=" + activeCount + ", cached=" + cachedCount
                + ", free=" + freeTop + ", lastEvent=" + lastEventId() + "]";
    }
}
