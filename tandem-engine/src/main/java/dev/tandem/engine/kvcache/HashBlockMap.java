package dev.tandem.engine.kvcache;

/**
 * Map from a block's sequence hash (any {@code long}, 0 included) to its block id (a non-negative
 * {@code int}), with no boxing: the prefix cache's index.
 *
 * <h2>Design</h2>
 * Open addressing with linear probing over two parallel arrays; an empty slot holds value -1.
 * The table has a fixed power-of-two capacity of at least twice the number of blocks in the
 * pool, so the load factor never exceeds one half and it never resizes. Removal uses backward
 * shift deletion (no tombstones), so lookups stay short however many blocks come and go.
 *
 * <h2>Invariants</h2>
 * Every stored key is reachable from its home slot without crossing an empty slot;
 * {@code size} equals the number of non-empty slots.
 *
 * <h2>Concurrency</h2>
 * Not thread-safe; owned by the {@link BlockManager}'s thread.
 */
final class HashBlockMap {
    private static final int EMPTY = -1;

    private final long[] keys;
    private final int[] values;  // block id, or EMPTY
    private final int mask;
    private int size;

    /** @param maxEntries most entries ever stored at once */
    HashBlockMap(int maxEntries) {
        int capacity = Integer.highestOneBit(Math.max(2, maxEntries) * 2 - 1) << 1;
        keys = new long[capacity];
        values = new int[capacity];
        java.util.Arrays.fill(values, EMPTY);
        mask = capacity - 1;
    }

    int size() {
        return size;
    }

    /** The block registered under {@code key}, or -1. */
    int get(long key) {
        int i = home(key);
        while (values[i] != EMPTY) {
            if (keys[i] == key) {
                return values[i];
            }
            i = (i + 1) & mask;
        }
        return EMPTY;
    }

    /** Stores {@code key -> block}; the key must be absent. */
    void putNew(long key, int block) {
        if (block < 0) {
            throw new IllegalArgumentException("block " + block);
        }
        int i = home(key);
        while (values[i] != EMPTY) {
            if (keys[i] == key) {
                throw new IllegalStateException("hash " + Long.toHexString(key) + " already maps to block " + values[i]);
            }
            i = (i + 1) & mask;
        }
        if (size + 1 > (mask + 1) / 2) {
            throw new IllegalStateException("hash map over capacity: " + size);
        }
        keys[i] = key;
        values[i] = block;
        size++;
    }

    /** Removes {@code key}; returns its block, or -1 if absent. */
    int remove(long key) {
        int i = home(key);
        while (values[i] != EMPTY) {
            if (keys[i] == key) {
                int block = values[i];
                shiftBack(i);
                size--;
                return block;
            }
            i = (i + 1) & mask;
        }
        return EMPTY;
    }

    /** Removes everything. */
    void clear() {
        java.util.Arrays.fill(values, EMPTY);
        size = 0;
    }

    /** Appends every key to {@code out} from index 0; returns how many. */
    int keys(long[] out) {
        int n = 0;
        for (int i = 0; i <= mask; i++) {
            if (values[i] != EMPTY) {
                out[n++] = keys[i];
            }
        }
        return n;
    }

    /** Calls {@code visitor} for every entry. */
    void forEach(EntryVisitor visitor) {
        for (int i = 0; i <= mask; i++) {
            if (values[i] != EMPTY) {
                visitor.visit(keys[i], values[i]);
            }
        }
    }

    @FunctionalInterface
    interface EntryVisitor {
        void visit(long key, int block);
    }

    /*
     * Backward shift deletion: after emptying slot `hole`, walk the cluster that follows it and
     * move back every entry whose home slot is not cyclically inside (hole, current], so that
     * no entry is left behind an empty slot.
     */
    private void shiftBack(int hole) {
        int i = hole;
        while (true) {
            i = (i + 1) & mask;
            if (values[i] == EMPTY) {
                break;
            }
            int h = home(keys[i]);
            boolean homeInRange = hole <= i ? (hole < h && h <= i) : (hole < h || h <= i);
            if (!homeInRange) {
                keys[hole] = keys[i];
                values[hole] = values[i];
                hole = i;
            }
        }
        values[hole] = EMPTY;
    }

    private int home(long key) {
        // murmur3 fmix64: sequence hashes are already uniform, but tests use small keys
        long h = key;
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        h ^= h >>> 33;
        return (int) h & mask;
    }
}
