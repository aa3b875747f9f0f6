package dev.tandem.engine.tokenizer;

import java.util.Arrays;

/** A growable byte array. Owned by one thread. */
final class Bytes {
    private byte[] data;
    private int size;

    Bytes(int capacity) {
        data = new byte[Math.max(16, capacity)];
    }

    void add(byte b) {
        if (size == data.length) {
            data = Arrays.copyOf(data, size * 2);
        }
        data[size++] = b;
    }

    void add(byte[] src, int off, int len) {
        if (size + len > data.length) {
            data = Arrays.copyOf(data, Math.max(data.length * 2, size + len));
        }
        System.arraycopy(src, off, data, size, len);
        size += len;
    }

    int size() {
        return size;
    }

    byte get(int i) {
        return data[i];
    }

    byte[] array() {
        return data;
    }

    /** Drops the first {@code n} bytes, moving the rest to the front. */
    void dropFirst(int n) {
        System.arraycopy(data, n, data, 0, size - n);
        size -= n;
    }

    void clear() {
        size = 0;
    }

    byte[] toArray() {
        return Arrays.copyOf(data, size);
    }

    /** The first {@code n} bytes as text ({@link Utf8#decodeText}), using {@code chars} as scratch. */
    String text(int n, char[] chars) {
        return new String(chars, 0, Utf8.decodeText(data, 0, n, chars));
    }
}
