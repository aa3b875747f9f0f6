package dev.tandem.router;

import dev.tandem.core.BlockHasher;
import java.nio.ByteOrder;
import net.openhft.hashing.LongHashFunction;

/**
 * A prompt's block sequence hashes for the routing hot path: exactly {@link BlockHasher}'s
 * values, computed without copying tokens into bytes and written into a caller-owned array, so
 * hashing a prompt allocates nothing.
 *
 * <pre>
 * Design
 *   BlockHasher defines local[i] = XXH3-64(seed 1337) over block i's token ids as little-endian
 *   u32, and seq[i] = XXH3-64 over seq[i-1] || local[i] as little-endian u64. XXH3 reads memory
 *   as little-endian; on a little-endian machine an int[] and a long[] already are those bytes,
 *   so the block is hashed in place (hashInts) and the pair from a two-long scratch (hashLongs).
 *   On a big-endian machine the in-place bytes differ, so the hasher falls back to BlockHasher
 *   (and allocates).
 *
 * Concurrency
 *   Not thread-safe: the pair scratch belongs to the owning thread (one hasher per thread).
 *
 * References
 *   RouterBenchmark.decide hashes with this class; hashPrompt and hashPromptCopying compare it
 *   with BlockHasher (docs/benchmarks.md, Router).
 * </pre>
 */
public final class PromptHasher {
    private static final LongHashFunction XXH3 = LongHashFunction.xx3(BlockHasher.SEED);
    private static final boolean IN_PLACE = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    private final int blockSizeTokens;
    /** seq[i-1], local[i]: the 16 bytes chained into seq[i]. */
    private final long[] pair = new long[2];

    /** @param blockSizeTokens tokens per block, at least 1 */
    public PromptHasher(int blockSizeTokens) {
        if (blockSizeTokens < 1) {
            throw new IllegalArgumentException("blockSizeTokens must be positive, got " + blockSizeTokens);
        }
        this.blockSizeTokens = blockSizeTokens;
    }

    /** Full blocks in {@code tokenCount} tokens. */
    public int blocks(int tokenCount) {
        return tokenCount / blockSizeTokens;
    }

    /**
     * Writes the sequence hashes of every full block of {@code tokens[0 .. tokenCount)} into
     * {@code out[0 .. blocks)}.
     *
     * @return the number of blocks written
     * @throws IllegalArgumentException if {@code out} is shorter than the block count
     */
    public int sequenceHashes(int[] tokens, int tokenCount, long[] out) {
        if (tokenCount < 0 || tokenCount > tokens.length) {
            throw new IllegalArgumentException("tokenCount " + tokenCount + " outside [0, " + tokens.length + "]");
        }
        int blocks = blocks(tokenCount);
        if (out.length < blocks) {
            throw new IllegalArgumentException(blocks + " blocks do not fit an array of " + out.length);
        }
        if (!IN_PLACE) {
            System.arraycopy(BlockHasher.sequenceHashes(tokens, tokenCount, blockSizeTokens), 0, out, 0, blocks);
            return blocks;
        }
        long seq = 0;
        for (int b = 0; b < blocks; b++) {
            long local = XXH3.hashInts(tokens, b * blockSizeTokens, blockSizeTokens);
            if (b == 0) {
                seq = local;
            } else {
                pair[0] = seq;
                pair[1] = local;
                seq = XXH3.hashLongs(pair, 0, 2);
            }
            out[b] = seq;
        }
        return blocks;
    }

    /** The sequence hashes of every full block of {@code tokens} in a new array. */
    public long[] sequenceHashes(int[] tokens) {
        long[] out = new long[blocks(tokens.length)];
        sequenceHashes(tokens, tokens.length, out);
        return out;
    }
}
