package dev.tandem.router;

import java.util.Arrays;

/**
 * One shard of the prefix index: an open-addressing hash table from a block's sequence hash to
 * the set of worker slots holding it, with a recency stamp per entry.
 *
 * <pre>
 * Design
 *   Entries live in one long[] (a "flat" table, no per-entry objects), stride = 2 + words longs:
 *
 *     | key u64 | stamp u64 | mask[0] u64 | ... | mask[words-1] u64 |
 *     offset:  KEY = 0, STAMP = KEY + 1, MASK = STAMP + 1
 *
 *   key    the sequence hash; 0 marks a free slot, so a real hash 0 is stored as ZERO_KEY
 *          (a 2^-64 alias, the same class of risk as two blocks sharing a 64-bit hash);
 *   stamp  the shard's write counter when the entry was last stored or matched (LRU pruning);
 *   mask   bit s of word s/64 is set when worker slot s holds the block.
 *   Keeping key, stamp and mask adjacent makes a lookup touch one cache line (usually) instead
 *   of three arrays' worth.
 *
 *   Linear probing from (int) mix(key) & (capacity - 1); deletion shifts later entries of the
 *   cluster back (no tombstones), so a probe stops at the first free slot. Capacity is a power
 *   of two and the table grows at 3/4 load. Bulk changes (clearing a worker, pruning) rebuild
 *   the table into a new array rather than deleting in place while scanning.
 *
 * Invariants (checkInvariants)
 *   - every stored entry is reachable from its home slot without crossing a free slot;
 *   - no entry has an empty mask; no key appears twice;
 *   - size equals the number of used slots and stays at or below 3/4 of capacity;
 *   - slotCounts[s] equals the number of entries whose mask has bit s.
 *
 * Concurrency
 *   Not thread-safe. PrefixIndex guards each table with its shard's StampedLock: mutators run
 *   under the write lock; readers may call find() under an optimistic read, so find() reads one
 *   Table object (array and mask from the same generation) and bounds its probe loop, which
 *   keeps a torn read from looping or indexing out of range before validation rejects it.
 *
 * References
 *   Knuth TAOCP vol. 3, 6.4 Algorithm R (deletion with linear probing); fmix64 from
 *   MurmurHash3 (public domain) as the slot mixer; fastutil's flat open-addressing maps.
 * </pre>
 */
final class MaskTable {
    static final int KEY = 0;
    static final int STAMP = KEY + 1;
    static final int MASK = STAMP + 1;

    /** Stand-in for a real hash 0, since key 0 marks a free slot. */
    static final long ZERO_KEY = 0x9E3779B97F4A7C15L;

    private static final int MIN_CAPACITY = 16;
    /** Histogram buckets used to find the pruning threshold among stamps. */
    private static final int PRUNE_BUCKETS = 1024;

    /** A table generation: the flat entry array and its slot mask, published together. */
    static final class Table {
        final long[] entries;
        /** capacity - 1, capacity a power of two. */
        final int slotMask;

        Table(int capacity, int stride) {
            this.entries = new long[capacity * stride];
            this.slotMask = capacity - 1;
        }

        int capacity() {
            return slotMask + 1;
        }
    }

    final int words;
    final int stride;
    private final int maxWorkers;
    /** Entries per worker slot: [slot] -> count. */
    private final long[] slotCounts;
    private final int[] pruneHistogram = new int[PRUNE_BUCKETS];
    Table table;
    private int size;

    MaskTable(int maxWorkers, int initialCapacity) {
        this.maxWorkers = maxWorkers;
        this.words = (maxWorkers + 63) >>> 6;
        this.stride = MASK + words;
        this.slotCounts = new long[maxWorkers];
        this.table = new Table(capacityFor(initialCapacity), stride);
    }

    /** MurmurHash3's fmix64: every input bit affects every output bit. */
    static long mix(long key) {
        key ^= key >>> 33;
        key *= 0xFF51AFD7ED558CCDL;
        key ^= key >>> 33;
        key *= 0xC4CEB9FE1A85EC53L;
        key ^= key >>> 33;
        return key;
    }

    /** The stored form of a hash (0 is reserved for free slots). */
    static long storedKey(long hash) {
        return hash == 0 ? ZERO_KEY : hash;
    }

    /** The hash a stored key stands for. */
    static long hashOf(long storedKey) {
        return storedKey == ZERO_KEY ? 0 : storedKey;
    }

    private static int capacityFor(int entries) {
        int wanted = Math.max(MIN_CAPACITY, entries + entries / 3 + 1);
        return Integer.highestOneBit(wanted - 1) << 1;
    }

    int size() {
        return size;
    }

    long slotCount(int slot) {
        return slotCounts[slot];
    }

    /**
     * Offset of {@code key}'s entry in {@code t.entries}, or -1. Safe to call on a table another
     * thread is changing: it never loops more than capacity times nor reads out of range.
     */
    static int find(Table t, int stride, long key, long mixed) {
        long[] e = t.entries;
        int mask = t.slotMask;
        int slot = (int) mixed & mask;
        for (int probes = 0; probes <= mask; probes++) {
            int base = slot * stride;
            long k = e[base + KEY];
            if (k == key) {
                return base;
            }
            if (k == 0) {
                return -1;
            }
            slot = (slot + 1) & mask;
        }
        return -1;
    }

    /**
     * Sets {@code slot}'s bit on {@code key}'s entry, creating the entry if needed, and stamps it.
     * Returns true if the bit was not set before.
     */
    boolean add(long key, long mixed, int slot, long stamp) {
        if ((size + 1) * 4L > table.capacity() * 3L) {
            rebuild(table.capacity() * 2, -1, Long.MIN_VALUE, Long.MIN_VALUE, 0);
        }
        long[] e = table.entries;
        int mask = table.slotMask;
        int pos = (int) mixed & mask;
        int word = MASK + (slot >>> 6);
        long bit = 1L << slot;
        while (true) {
            int base = pos * stride;
            long k = e[base + KEY];
            if (k == key) {
                e[base + STAMP] = stamp;
                if ((e[base + word] & bit) != 0) {
                    return false;
                }
                e[base + word] |= bit;
                slotCounts[slot]++;
                return true;
            }
            if (k == 0) {
                e[base + STAMP] = stamp;
                e[base + word] = bit;
                e[base + KEY] = key;
                size++;
                slotCounts[slot]++;
                return true;
            }
            pos = (pos + 1) & mask;
        }
    }

    /** Clears {@code slot}'s bit on {@code key}'s entry, deleting the entry when no bit is left. */
    boolean remove(long key, long mixed, int slot) {
        int base = find(table, stride, key, mixed);
        if (base < 0) {
            return false;
        }
        long[] e = table.entries;
        int word = MASK + (slot >>> 6);
        long bit = 1L << slot;
        if ((e[base + word] & bit) == 0) {
            return false;
        }
        e[base + word] &= ~bit;
        slotCounts[slot]--;
        if (maskEmpty(e, base)) {
            deleteAt(base / stride);
        }
        return true;
    }

    private boolean maskEmpty(long[] e, int base) {
        for (int w = 0; w < words; w++) {
            if (e[base + MASK + w] != 0) {
                return false;
            }
        }
        return true;
    }

    /** Knuth's Algorithm R: shift later cluster members back over the freed slot. */
    private void deleteAt(int freed) {
        long[] e = table.entries;
        int mask = table.slotMask;
        int gap = freed;
        int pos = freed;
        while (true) {
            pos = (pos + 1) & mask;
            int base = pos * stride;
            long k = e[base + KEY];
            if (k == 0) {
                break;
            }
            int home = (int) mix(k) & mask;
            // The entry at pos may move to gap only if its home is not cyclically in (gap, pos].
            boolean homeBetween = gap <= pos ? (home > gap && home <= pos) : (home > gap || home <= pos);
            if (!homeBetween) {
                System.arraycopy(e, base, e, gap * stride, stride);
                gap = pos;
            }
        }
        Arrays.fill(e, gap * stride, gap * stride + stride, 0L);
        size--;
    }

    /**
     * Stamps the entry at {@code base} (a reader's touch; see PrefixIndex on the benign race),
     * unless its stamp is already within {@code slack} of {@code stamp}: a store dirties the
     * cache line even when it writes the same value, and a walk touches every block it matches,
     * so skipping fresh stamps keeps read-mostly tables clean (RouterBenchmark.decidePrehashed).
     */
    static void touch(Table t, int base, long stamp, long slack) {
        long[] e = t.entries;
        if (stamp - e[base + STAMP] > slack) {
            e[base + STAMP] = stamp;
        }
    }

    /** Removes {@code slot} from every entry; returns how many entries held it. */
    long clearSlot(int slot) {
        long had = slotCounts[slot];
        if (had > 0) {
            rebuild(table.capacity(), slot, Long.MIN_VALUE, Long.MIN_VALUE, 0);
        }
        return had;
    }

    /**
     * Drops the least recently stamped entries until {@code targetSize} remain. Stamps are
     * bucketed into a histogram to find the threshold in two passes without sorting; entries in
     * the threshold bucket go in table order until the target is met.
     *
     * @return entries dropped
     */
    int pruneTo(int targetSize) {
        int excess = size - targetSize;
        if (excess <= 0) {
            return 0;
        }
        long[] e = table.entries;
        long min = Long.MAX_VALUE;
        long max = Long.MIN_VALUE;
        for (int base = 0; base < e.length; base += stride) {
            if (e[base + KEY] != 0) {
                min = Math.min(min, e[base + STAMP]);
                max = Math.max(max, e[base + STAMP]);
            }
        }
        long width = Math.max(1, ((max - min) / PRUNE_BUCKETS) + 1);
        Arrays.fill(pruneHistogram, 0);
        for (int base = 0; base < e.length; base += stride) {
            if (e[base + KEY] != 0) {
                pruneHistogram[(int) ((e[base + STAMP] - min) / width)]++;
            }
        }
        int cumulative = 0;
        int bucket = 0;
        while (cumulative + pruneHistogram[bucket] < excess) {
            cumulative += pruneHistogram[bucket];
            bucket++;
        }
        long below = min + bucket * width;   // every stamp < below goes
        long bucketEnd = below + width;      // stamps in [below, bucketEnd) go while still needed
        rebuild(table.capacity(), -1, below, bucketEnd, excess - cumulative);
        return excess;
    }

    /**
     * Rehashes the live entries into a new table of {@code capacity}. Drops bit {@code clearSlot}
     * (if >= 0) and entries left with no bit; drops entries stamped below {@code dropBelow}; then
     * drops up to {@code dropInBucket} entries stamped in {@code [dropBelow, bucketEnd)}.
     */
    private void rebuild(int capacity, int clearSlot, long dropBelow, long bucketEnd, int dropInBucket) {
        Table fresh = new Table(capacity, stride);
        long[] old = table.entries;
        long[] e = fresh.entries;
        int mask = fresh.slotMask;
        int clearWord = clearSlot >= 0 ? MASK + (clearSlot >>> 6) : -1;
        long clearBit = clearSlot >= 0 ? 1L << clearSlot : 0;
        int kept = 0;
        int bucketDrops = dropInBucket;
        for (int base = 0; base < old.length; base += stride) {
            long k = old[base + KEY];
            if (k == 0) {
                continue;
            }
            if (clearSlot >= 0) {
                old[base + clearWord] &= ~clearBit;
                if (maskEmpty(old, base)) {
                    continue;
                }
            }
            long stamp = old[base + STAMP];
            if (stamp < dropBelow || (bucketDrops > 0 && stamp < bucketEnd)) {
                if (stamp >= dropBelow) {
                    bucketDrops--;
                }
                forgetCounts(old, base);
                continue;
            }
            int pos = (int) mix(k) & mask;
            while (e[pos * stride + KEY] != 0) {
                pos = (pos + 1) & mask;
            }
            System.arraycopy(old, base, e, pos * stride, stride);
            kept++;
        }
        if (clearSlot >= 0) {
            slotCounts[clearSlot] = 0;
        }
        size = kept;
        table = fresh;
    }

    private void forgetCounts(long[] e, int base) {
        for (int w = 0; w < words; w++) {
            long m = e[base + MASK + w];
            while (m != 0) {
                int s = (w << 6) + Long.numberOfTrailingZeros(m);
                slotCounts[s]--;
                m &= m - 1;
            }
        }
    }

    /** Calls {@code visitor} with every hash held by {@code slot} (tests and snapshots). */
    void forEachOf(int slot, java.util.function.LongConsumer visitor) {
        long[] e = table.entries;
        int word = MASK + (slot >>> 6);
        long bit = 1L << slot;
        for (int base = 0; base < e.length; base += stride) {
            if (e[base + KEY] != 0 && (e[base + word] & bit) != 0) {
                visitor.accept(hashOf(e[base + KEY]));
            }
        }
    }

    void forEachHolder(PrefixIndex.HolderVisitor visitor) {
        long[] e = table.entries;
        for (int base = 0; base < e.length; base += stride) {
            if (e[base + KEY] == 0) {
                continue;
            }
            for (int w = 0; w < words; w++) {
                long m = e[base + MASK + w];
                while (m != 0) {
                    visitor.visit(hashOf(e[base + KEY]), (w << 6) + Long.numberOfTrailingZeros(m));
                    m &= m - 1;
                }
            }
        }
    }

    void checkInvariants() {
        long[] e = table.entries;
        int mask = table.slotMask;
        int used = 0;
        long[] counts = new long[maxWorkers];
        java.util.HashSet<Long> seen = new java.util.HashSet<>();
        for (int pos = 0; pos <= mask; pos++) {
            int base = pos * stride;
            long k = e[base + KEY];
            if (k == 0) {
                continue;
            }
            used++;
            check(seen.add(k), "duplicate key " + Long.toHexString(k));
            check(!maskEmpty(e, base), "entry " + Long.toHexString(k) + " has an empty mask");
            check(find(table, stride, k, mix(k)) == base, "entry " + Long.toHexString(k) + " unreachable");
            for (int w = 0; w < words; w++) {
                long m = e[base + MASK + w];
                while (m != 0) {
                    int s = (w << 6) + Long.numberOfTrailingZeros(m);
                    check(s < maxWorkers, "bit " + s + " beyond max workers " + maxWorkers);
                    counts[s]++;
                    m &= m - 1;
                }
            }
        }
        check(used == size, "size " + size + " but " + used + " used slots");
        check(size * 4L <= table.capacity() * 3L, "load above 3/4: " + size + "/" + table.capacity());
        check(Arrays.equals(counts, slotCounts), "slot counts " + Arrays.toString(slotCounts)
                + " but entries say " + Arrays.toString(counts));
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalStateException("MaskTable invariant broken: " + message);
        }
    }
}
