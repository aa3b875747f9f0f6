package dev.tandem.engine.tokenizer;

import java.util.Arrays;

/**
 * The work queue of candidate merges shared by both tokenizers: a binary min-heap of entries
 * ordered by a 64-bit key whose low 32 bits are the left symbol's index, so that equal
 * priorities pop leftmost first. An entry also carries its right symbol's index, the byte length
 * of the merged text (to recognise entries made stale by other merges) and, for BPE, the merged
 * symbol's id.
 *
 * <p>Owned by the thread running one {@code encode} call.
 */
final class MergeQueue {
    private long[] keys = new long[64];
    private int[] rights = new int[64];
    private int[] sizes = new int[64];
    private int[] results = new int[64];
    private int entries;
    /** Heap of entry indices ordered by {@code keys}. */
    private int[] heap = new int[64];
    private int heapSize;

    void clear() {
        entries = 0;
        heapSize = 0;
    }

    boolean isEmpty() {
        return heapSize == 0;
    }

    /** Key for BPE: lower merge rank first, then leftmost. */
    static long rankKey(int rank, int left) {
        return ((long) rank << 32) | left;
    }

    /** Key for SentencePiece: higher score first, then leftmost. */
    static long scoreKey(float score, int left) {
        float negated = -score + 0.0f; // + 0.0f turns -0.0 into 0.0, which compares equal as in C++
        int bits = Float.floatToIntBits(negated);
        int sortable = bits ^ ((bits >> 31) & 0x7FFFFFFF); // float order as signed int order
        return ((long) sortable << 32) | left;
    }

    void push(long key, int right, int size, int result) {
        if (entries == keys.length) {
            int n = entries * 2;
            keys = Arrays.copyOf(keys, n);
            rights = Arrays.copyOf(rights, n);
            sizes = Arrays.copyOf(sizes, n);
            results = Arrays.copyOf(results, n);
            heap = Arrays.copyOf(heap, n);
        }
        int e = entries++;
        keys[e] = key;
        rights[e] = right;
        sizes[e] = size;
        results[e] = result;
        int i = heapSize++;
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (keys[heap[parent]] <= key) {
                break;
            }
            heap[i] = heap[parent];
            i = parent;
        }
        heap[i] = e;
    }

    /** Removes the first entry and returns its index for the accessors below. */
    int pop() {
        int top = heap[0];
        int last = heap[--heapSize];
        int i = 0;
        long key = keys[last];
        while (true) {
            int child = 2 * i + 1;
            if (child >= heapSize) {
                break;
            }
            if (child + 1 < heapSize && keys[heap[child + 1]] < keys[heap[child]]) {
                child++;
            }
            if (keys[heap[child]] >= key) {
                break;
            }
            heap[i] = heap[child];
            i = child;
        }
        heap[i] = last;
        return top;
    }

    int left(int entry) {
        return (int) keys[entry];
    }

    int right(int entry) {
        return rights[entry];
    }

    int size(int entry) {
        return sizes[entry];
    }

    int result(int entry) {
        return results[entry];
    }
}
