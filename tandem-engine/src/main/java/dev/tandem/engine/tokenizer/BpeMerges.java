package dev.tandem.engine.tokenizer;

/**
 * BPE merge rules: (left symbol id, right symbol id) to (rank, merged symbol id), in an
 * open-addressing table of primitive arrays (no boxing; the 151k Qwen2 merges take 4 MB).
 * When a pair is listed twice the first (lowest) rank is kept, as llama.cpp's
 * {@code emplace} does.
 *
 * <p>Built by one thread at load time, then read-only: safe for concurrent lookups.
 */
final class BpeMerges {
    private final long[] pairs;
    private final int[] ranks;
    private final int[] results;
    private final int mask;
    private int count;

    BpeMerges(int expected) {
        // At most 3/4 full (Qwen2: 151,387 merges in 262,144 slots).
        int capacity = Integer.highestOneBit(Math.max(16, expected + expected / 3)) << 1;
        pairs = new long[capacity];
        ranks = new int[capacity];
        results = new int[capacity];
        mask = capacity - 1;
        java.util.Arrays.fill(ranks, -1);
    }

    int count() {
        return count;
    }

    void putIfAbsent(int left, int right, int rank, int result) {
        long pair = pair(left, right);
        int slot = slot(pair);
        while (ranks[slot] >= 0) {
            if (pairs[slot] == pair) {
                return;
            }
            slot = (slot + 1) & mask;
        }
        if (4L * (count + 1) > 3L * pairs.length) {
            throw new IllegalStateException("merge table full: sized for fewer merges");
        }
        pairs[slot] = pair;
        ranks[slot] = rank;
        results[slot] = result;
        count++;
    }

    /** The slot of the merge of {@code left, right}, or -1; read it with {@link #rank}/{@link #result}. */
    int find(int left, int right) {
        long pair = pair(left, right);
        int slot = slot(pair);
        while (ranks[slot] >= 0) {
            if (pairs[slot] == pair) {
                return slot;
            }
            slot = (slot + 1) & mask;
        }
        return -1;
    }

    int rank(int slot) {
        return ranks[slot];
    }

    int result(int slot) {
        return results[slot];
    }

    private static long pair(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private int slot(long pair) {
        long h = pair * 0x9E3779B97F4A7C15L; // Fibonacci hashing: the high bits are well mixed
        return (int) (h >>> 32) & mask;
    }
}
