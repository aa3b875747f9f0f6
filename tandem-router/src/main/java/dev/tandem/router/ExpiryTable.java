package dev.tandem.router;

import java.util.Arrays;

/**
 * Expiry times of (block hash, worker slot) pairs, with the earliest first: the clock of the
 * approximate index.
 *
 * <pre>
 * Design
 *   Two primitive structures, no objects per pair:
 *   - a map (open addressing, linear probing, backward-shift deletion), stride 3 longs:
 *       | hash u64 | slot + 1 u64 (0 = free) | expiryNs u64 |
 *     holding each live pair's current expiry;
 *   - a binary min-heap over parallel arrays (expiryNs, hash, slot) holding at most one
 *     record per live pair in the common case.
 *   Refreshing a pair only moves its expiry in the map. When a heap record comes due, the map
 *   decides: a later expiry re-arms the record (one push), an equal one expires the pair, a
 *   missing pair (worker cleared) drops it. So a hot prefix routed a thousand times within the
 *   time-to-live costs one heap record, not a thousand.
 *
 * Invariants (checkInvariants)
 *   - every map entry is reachable from its home slot; size matches the used slots;
 *   - the heap is ordered (parent expiry <= child expiry);
 *   - every live pair has a heap record due no later than its map expiry.
 *
 * Concurrency
 *   Not thread-safe; ApproxIndex guards it with its monitor.
 *
 * References
 *   Dynamo's ApproxKvIndexer prunes with a binary heap and lazy deletion; the re-arm step here
 *   keeps the heap from growing with refreshes.
 * </pre>
 */
final class ExpiryTable {
    /** Receives pairs that expired. */
    @FunctionalInterface
    interface ExpiredSink {
        void expired(long hash, int slot);
    }

    private static final int STRIDE = 3;
    private static final int HASH = 0;
    private static final int SLOT = 1;
    private static final int EXPIRY = 2;

    private long[] map = new long[16 * STRIDE];
    private int mapMask = 15;
    private int size;

    private long[] heapExpiry = new long[16];
    private long[] heapHash = new long[16];
    private int[] heapSlot = new int[16];
    private int heapSize;

    private static long mixPair(long hash, int slot) {
        return MaskTable.mix(hash ^ (slot * 0x9E3779B97F4A7C15L));
    }

    int size() {
        return size;
    }

    int heapSize() {
        return heapSize;
    }

    /** Due time of the earliest heap record (possibly stale), or Long.MAX_VALUE. */
    long nextDueNs() {
        return heapSize > 0 ? heapExpiry[0] : Long.MAX_VALUE;
    }

    /** Sets the pair's expiry (inserting it and arming a heap record if new). True if new. */
    boolean put(long hash, int slot, long expiryNs) {
        int base = find(hash, slot);
        if (base >= 0) {
            map[base + EXPIRY] = expiryNs;
            return false;
        }
        if ((size + 1) * 4L > (mapMask + 1) * 3L) {
            rehash((mapMask + 1) * 2, -1);
        }
        insert(map, mapMask, hash, slot, expiryNs);
        size++;
        push(expiryNs, hash, slot);
        return true;
    }

    /** The pair's expiry, or Long.MIN_VALUE if absent. */
    long expiryOf(long hash, int slot) {
        int base = find(hash, slot);
        return base >= 0 ? map[base + EXPIRY] : Long.MIN_VALUE;
    }

    /** Expires every pair due at {@code nowNs}, telling {@code sink}; returns how many. */
    int expire(long nowNs, ExpiredSink sink) {
        int expired = 0;
        while (heapSize > 0 && heapExpiry[0] <= nowNs) {
            long due = heapExpiry[0];
            long hash = heapHash[0];
            int slot = heapSlot[0];
            pop();
            int base = find(hash, slot);
            if (base < 0) {
                continue;                         // worker cleared since: stale record
            }
            long current = map[base + EXPIRY];
            if (current > due) {
                push(current, hash, slot);        // refreshed since: re-arm at the new time
            } else {
                deleteAt(base / STRIDE);
                sink.expired(hash, slot);
                expired++;
            }
        }
        return expired;
    }

    /** Forgets every pair of {@code slot}; its heap records are dropped when they come due. */
    void removeSlot(int slot) {
        rehash(mapMask + 1, slot);
    }

    private int find(long hash, int slot) {
        long tag = slot + 1L;
        int pos = (int) mixPair(hash, slot) & mapMask;
        while (true) {
            int base = pos * STRIDE;
            long s = map[base + SLOT];
            if (s == 0) {
                return -1;
            }
            if (s == tag && map[base + HASH] == hash) {
                return base;
            }
            pos = (pos + 1) & mapMask;
        }
    }

    private static void insert(long[] m, int mask, long hash, int slot, long expiryNs) {
        int pos = (int) mixPair(hash, slot) & mask;
        while (m[pos * STRIDE + SLOT] != 0) {
            pos = (pos + 1) & mask;
        }
        int base = pos * STRIDE;
        m[base + HASH] = hash;
        m[base + SLOT] = slot + 1L;
        m[base + EXPIRY] = expiryNs;
    }

    private void deleteAt(int freed) {
        int gap = freed;
        int pos = freed;
        while (true) {
            pos = (pos + 1) & mapMask;
            int base = pos * STRIDE;
            if (map[base + SLOT] == 0) {
                break;
            }
            int home = (int) mixPair(map[base + HASH], (int) map[base + SLOT] - 1) & mapMask;
            boolean homeBetween = gap <= pos ? (home > gap && home <= pos) : (home > gap || home <= pos);
            if (!homeBetween) {
                System.arraycopy(map, base, map, gap * STRIDE, STRIDE);
                gap = pos;
            }
        }
        Arrays.fill(map, gap * STRIDE, gap * STRIDE + STRIDE, 0L);
        size--;
    }

    private void rehash(int capacity, int dropSlot) {
        long[] fresh = new long[capacity * STRIDE];
        int mask = capacity - 1;
        int kept = 0;
        for (int base = 0; base < map.length; base += STRIDE) {
            long tag = map[base + SLOT];
            if (tag == 0 || tag == dropSlot + 1L) {
                continue;
            }
            insert(fresh, mask, map[base + HASH], (int) tag - 1, map[base + EXPIRY]);
            kept++;
        }
        map = fresh;
        mapMask = mask;
        size = kept;
    }

    private void push(long expiryNs, long hash, int slot) {
        if (heapSize == heapExpiry.length) {
            int grown = heapSize * 2;
            heapExpiry = Arrays.copyOf(heapExpiry, grown);
            heapHash = Arrays.copyOf(heapHash, grown);
            heapSlot = Arrays.copyOf(heapSlot, grown);
        }
        int i = heapSize++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (heapExpiry[parent] <= expiryNs) {
                break;
            }
            moveHeap(parent, i);
            i = parent;
        }
        heapExpiry[i] = expiryNs;
        heapHash[i] = hash;
        heapSlot[i] = slot;
    }

    private void pop() {
        int last = --heapSize;
        long expiryNs = heapExpiry[last];
        long hash = heapHash[last];
        int slot = heapSlot[last];
        int i = 0;
        while (true) {
            int child = 2 * i + 1;
            if (child >= heapSize) {
                break;
            }
            if (child + 1 < heapSize && heapExpiry[child + 1] < heapExpiry[child]) {
                child++;
            }
            if (heapExpiry[child] >= expiryNs) {
                break;
            }
            moveHeap(child, i);
            i = child;
        }
        if (heapSize > 0) {
            heapExpiry[i] = expiryNs;
            heapHash[i] = hash;
            heapSlot[i] = slot;
        }
    }

    private void moveHeap(int from, int to) {
        heapExpiry[to] = heapExpiry[from];
        heapHash[to] = heapHash[from];
        heapSlot[to] = heapSlot[from];
    }

    void checkInvariants() {
        int used = 0;
        for (int pos = 0; pos <= mapMask; pos++) {
            int base = pos * STRIDE;
            if (map[base + SLOT] == 0) {
                continue;
            }
            used++;
            long hash = map[base + HASH];
            int slot = (int) map[base + SLOT] - 1;
            if (find(hash, slot) != base) {
                throw new IllegalStateException("expiry pair " + Long.toHexString(hash) + "/" + slot + " unreachable");
            }
            boolean armed = false;
            for (int h = 0; h < heapSize && !armed; h++) {
                armed = heapHash[h] == hash && heapSlot[h] == slot && heapExpiry[h] <= map[base + EXPIRY];
            }
            if (!armed) {
                throw new IllegalStateException("expiry pair " + Long.toHexString(hash) + "/" + slot + " has no heap record");
            }
        }
        if (used != size) {
            throw new IllegalStateException("expiry map size " + size + " but " + used + " used slots");
        }
        for (int i = 1; i < heapSize; i++) {
            if (heapExpiry[(i - 1) >>> 1] > heapExpiry[i]) {
                throw new IllegalStateException("expiry heap out of order at " + i);
            }
        }
    }
}
