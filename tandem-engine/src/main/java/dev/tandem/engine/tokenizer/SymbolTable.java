package dev.tandem.engine.tokenizer;

import java.util.Arrays;

/**
 * Byte strings to symbol ids: the vocabulary's token ids first, then ids past the vocabulary for
 * strings the BPE merges produce but the vocabulary lacks ("virtual" symbols).
 *
 * <h2>Design</h2>
 * Open addressing with linear probing over a power-of-two slot array holding {@code id + 1}
 * (0 = empty), at most three quarters full; each id's key hash is kept, so a probe compares
 * bytes only on a full hash match. Keys are not copied per entry: all key bytes live in one
 * growing array, addressed by {@code keyStart[id]} and {@code keyLength[id]}. Lookups take a
 * byte range, so tokenizing allocates no strings.
 *
 * <h2>Invariants</h2>
 * A key maps to the first id it was added with; an id without a key has {@code keyLength -1}.
 *
 * <h2>Concurrency</h2>
 * Built by one thread while loading, then only read: safe for concurrent lookups after
 * publication (the owning tokenizer's fields are final).
 */
final class SymbolTable {
    private byte[] keyBytes;
    private int keyBytesUsed;
    private int[] keyStart;
    private int[] keyLength;
    /** Hash of each id's key, compared before the bytes. */
    private int[] keyHash;
    private int symbolCount;
    private int[] slots;
    private int used;

    SymbolTable(int expectedSymbols, int expectedKeyBytes) {
        int capacity = Integer.highestOneBit(Math.max(16, expectedSymbols + expectedSymbols / 3)) << 1;
        slots = new int[capacity];
        keyBytes = new byte[Math.max(64, expectedKeyBytes)];
        keyStart = new int[Math.max(16, expectedSymbols)];
        keyLength = new int[keyStart.length];
        keyHash = new int[keyStart.length];
        Arrays.fill(keyLength, -1);
    }

    /** Number of ids handed out (tokens, then virtual symbols). */
    int symbolCount() {
        return symbolCount;
    }

    /**
     * Registers {@code key} under {@code id} (ids must be given in increasing order); a key seen
     * before keeps its first id and this id stays keyless.
     *
     * @return true if the key was new
     */
    boolean put(int id, byte[] key, int off, int len) {
        if (id < symbolCount) {
            throw new IllegalArgumentException("ids must increase: " + id + " after " + (symbolCount - 1));
        }
        ensureIds(id + 1);
        symbolCount = id + 1;
        int hash = hash(key, off, len);
        if (find(key, off, len, hash) >= 0) {
            return false;
        }
        storeKey(id, key, off, len);
        keyHash[id] = hash;
        insertSlot(id, hash);
        return true;
    }

    /** Hands out {@code id} without a key (a token no lookup can produce). */
    void reserve(int id) {
        if (id < symbolCount) {
            throw new IllegalArgumentException("ids must increase: " + id + " after " + (symbolCount - 1));
        }
        ensureIds(id + 1);
        symbolCount = id + 1;
    }

    /** The id of {@code key}, adding it as a new virtual symbol if it is unknown. */
    int findOrAdd(byte[] key, int off, int len) {
        int id = find(key, off, len);
        if (id >= 0) {
            return id;
        }
        id = symbolCount;
        put(id, key, off, len);
        return id;
    }

    /** The id of {@code key[off, off+len)}, or -1. */
    int find(byte[] key, int off, int len) {
        return find(key, off, len, hash(key, off, len));
    }

    private int find(byte[] key, int off, int len, int hash) {
        int mask = slots.length - 1;
        int slot = hash & mask;
        while (true) {
            int entry = slots[slot];
            if (entry == 0) {
                return -1;
            }
            int id = entry - 1;
            if (keyHash[id] == hash && keyLength[id] == len && sameBytes(keyStart[id], key, off, len)) {
                return id;
            }
            slot = (slot + 1) & mask;
        }
    }

    private boolean sameBytes(int start, byte[] key, int off, int len) {
        if (len > 16) {
            return Arrays.equals(keyBytes, start, start + len, key, off, off + len);
        }
        for (int i = 0; i < len; i++) { // short keys (most tokens): a plain loop beats the intrinsic's setup
            if (keyBytes[start + i] != key[off + i]) {
                return false;
            }
        }
        return true;
    }

    /** Length of the key of {@code id}, or -1 if it has none. */
    int keyLength(int id) {
        return keyLength[id];
    }

    /** Copies the key of {@code id} to {@code out[at]} and returns the position after it. */
    int copyKey(int id, byte[] out, int at) {
        int len = keyLength[id];
        System.arraycopy(keyBytes, keyStart[id], out, at, len);
        return at + len;
    }

    /** Byte {@code i} of the key of {@code id}. */
    byte keyByte(int id, int i) {
        return keyBytes[keyStart[id] + i];
    }

    private void storeKey(int id, byte[] key, int off, int len) {
        if (keyBytesUsed + len > keyBytes.length) {
            keyBytes = Arrays.copyOf(keyBytes, Math.max(keyBytes.length * 2, keyBytesUsed + len));
        }
        System.arraycopy(key, off, keyBytes, keyBytesUsed, len);
        keyStart[id] = keyBytesUsed;
        keyLength[id] = len;
        keyBytesUsed += len;
    }

    private void ensureIds(int ids) {
        if (ids > keyStart.length) {
            int n = Math.max(ids, keyStart.length * 2);
            keyStart = Arrays.copyOf(keyStart, n);
            int old = keyLength.length;
            keyLength = Arrays.copyOf(keyLength, n);
            keyHash = Arrays.copyOf(keyHash, n);
            Arrays.fill(keyLength, old, n, -1);
        }
    }

    private void insertSlot(int id, int hash) {
        if (4L * (used + 1) > 3L * slots.length) {
            rehash();
        }
        int mask = slots.length - 1;
        int slot = hash & mask;
        while (slots[slot] != 0) {
            slot = (slot + 1) & mask;
        }
        slots[slot] = id + 1;
        used++;
    }

    private void rehash() {
        int[] old = slots;
        slots = new int[old.length * 2];
        int mask = slots.length - 1;
        for (int entry : old) {
            if (entry != 0) {
                int slot = keyHash[entry - 1] & mask;
                while (slots[slot] != 0) {
                    slot = (slot + 1) & mask;
                }
                slots[slot] = entry;
            }
        }
    }

    /** FNV-1a over the bytes, then a murmur3 finaliser so that the low bits are well mixed. */
    private static int hash(byte[] key, int off, int len) {
        int h = 0x811C9DC5;
        for (int i = off; i < off + len; i++) {
            h = (h ^ (key[i] & 0xFF)) * 0x01000193;
        }
        h ^= h >>> 16;
        h *= 0x85EBCA6B;
        h ^= h >>> 13;
        h *= 0xC2B2AE35;
        h ^= h >>> 16;
        return h;
    }
}
