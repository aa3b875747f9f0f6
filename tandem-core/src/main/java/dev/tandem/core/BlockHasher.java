package dev.tandem.core;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import net.openhft.hashing.LongHashFunction;

/**
 * Block hashing shared by workers (prefix cache, KV events) and the router (prefix index).
 *
 * <h2>Design</h2>
 * Dynamo's definitions, so that an index could one day read events from other engines:
 * <ul>
 *   <li>tokens are cut into blocks of {@code blockSize} tokens; only full blocks are hashed;</li>
 *   <li>local hash {@code local[i]} = XXH3-64 (seed 1337) over the block's token ids as
 *       little-endian u32;</li>
 *   <li>sequence hash {@code seq[0] = local[0]}, {@code seq[i]} = XXH3-64 (seed 1337) over the 16
 *       bytes {@code seq[i-1] ‖ local[i]}, each a little-endian u64.</li>
 * </ul>
 * Because a sequence hash chains over every earlier block, two prompts share {@code seq[i]} only
 * if they share all tokens up to the end of block {@code i}: a walk that stops at the first
 * missing hash is a prefix match.
 *
 * <h2>Concurrency</h2>
 * Stateless; safe for concurrent use.
 */
public final class BlockHasher {
    /** XXH3 seed used for every Tandem block hash (Dynamo's {@code XXH3_SEED}). */
    public static final long SEED = 1337L;

    private static final LongHashFunction XXH3 = LongHashFunction.xx3(SEED);
    private static final VarHandle LE_INT =
            MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LE_LONG =
            MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private BlockHasher() {
    }

    /** Number of full blocks in {@code tokenCount} tokens. */
    public static int fullBlocks(int tokenCount, int blockSize) {
        checkBlockSize(blockSize);
        return tokenCount / blockSize;
    }

    /** Local hash of {@code tokens[from .. from+count)}. */
    public static long localHash(int[] tokens, int from, int count) {
        byte[] scratch = new byte[count * Integer.BYTES];
        return localHash(tokens, from, count, scratch);
    }

    private static long localHash(int[] tokens, int from, int count, byte[] scratch) {
        for (int i = 0; i < count; i++) {
            LE_INT.set(scratch, i * Integer.BYTES, tokens[from + i]);
        }
        return XXH3.hashBytes(scratch, 0, count * Integer.BYTES);
    }

    /** Sequence hash of a block whose parent block has sequence hash {@code parent}. */
    public static long chain(long parent, long local) {
        byte[] pair = new byte[2 * Long.BYTES];
        LE_LONG.set(pair, 0, parent);
        LE_LONG.set(pair, Long.BYTES, local);
        return XXH3.hashBytes(pair);
    }

    /** Local hashes of every full block of {@code tokens[0 .. tokenCount)}. */
    public static long[] localHashes(int[] tokens, int tokenCount, int blockSize) {
        int blocks = fullBlocks(tokenCount, blockSize);
        long[] out = new long[blocks];
        byte[] scratch = new byte[blockSize * Integer.BYTES];
        for (int b = 0; b < blocks; b++) {
            out[b] = localHash(tokens, b * blockSize, blockSize, scratch);
        }
        return out;
    }

    /** Sequence hashes of every full block of {@code tokens[0 .. tokenCount)}. */
    public static long[] sequenceHashes(int[] tokens, int tokenCount, int blockSize) {
        return sequenceHashes(localHashes(tokens, tokenCount, blockSize));
    }

    /** Sequence hashes of every full block of {@code tokens}. */
    public static long[] sequenceHashes(int[] tokens, int blockSize) {
        return sequenceHashes(tokens, tokens.length, blockSize);
    }

    /** Chains local hashes into sequence hashes. */
    public static long[] sequenceHashes(long[] localHashes) {
        long[] out = new long[localHashes.length];
        byte[] pair = new byte[2 * Long.BYTES];
        for (int b = 0; b < localHashes.length; b++) {
            if (b == 0) {
                out[0] = localHashes[0];
            } else {
                LE_LONG.set(pair, 0, out[b - 1]);
                LE_LONG.set(pair, Long.BYTES, localHashes[b]);
                out[b] = XXH3.hashBytes(pair);
            }
        }
        return out;
    }

    /** Raw XXH3-64 (seed 1337) of bytes; exposed for tests and codecs. */
    public static long xxh3(byte[] bytes) {
        return XXH3.hashBytes(bytes);
    }

    private static void checkBlockSize(int blockSize) {
        if (blockSize <= 0) {
            throw new IllegalArgumentException("blockSize must be positive, got " + blockSize);
        }
    }
}
