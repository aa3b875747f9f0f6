package dev.tandem.engine.tokenizer;

import java.util.Arrays;

/** A growable list of ints without boxing. Owned by one thread. */
final class IntBuffer {
    private int[] values;
    private int size;

    IntBuffer(int capacity) {
        values = new int[Math.max(4, capacity)];
    }

    void add(int v) {
        if (size == values.length) {
            values = Arrays.copyOf(values, size * 2);
        }
        values[size++] = v;
    }

    void addAll(int[] vs) {
        for (int v : vs) {
            add(v);
        }
    }

    int get(int i) {
        return values[i];
    }

    void set(int i, int v) {
        values[i] = v;
    }

    int size() {
        return size;
    }

    void clear() {
        size = 0;
    }

    int[] toArray() {
        return Arrays.copyOf(values, size);
    }
}
