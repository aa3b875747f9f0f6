package dev.tandem.bench;

import java.util.SplittableRandom;

/**
 * Where token-id prompts come from: ids in {@code [firstId, endId)} (a range every tokenizer of
 * interest treats as ordinary tokens), cut into blocks of {@code blockTokens}.
 *
 * <p>Block {@code h} (a trace's hash id) is a pure function of {@code (seed, h)}, so equal hash ids
 * give equal blocks in every prompt. Distinct ids give distinct blocks by construction, not by
 * luck: the block's first tokens spell {@code h} in a self-delimiting base-{@code idCount()/2} code
 * (3 tokens cover ids below 2,097,152 with the default range), the rest are pseudo-random.
 * (Without that, two ids could collide and inflate the measured cache hit rate.) Negative ids
 * and blocks too short to spell their id lose that guarantee.
 *
 * @param firstId     smallest token id used, &gt;= 0
 * @param endId       one past the largest token id used, &gt; firstId + 1
 * @param blockTokens tokens per block, &gt;= 1 (512 in Mooncake traces)
 * @param seed        varies every block
 */
public record TokenSpace(int firstId, int endId, int blockTokens, long seed) {
    /** Ids 3..258: ordinary tokens in SentencePiece (byte tokens), GPT-2, Llama 3 and Qwen2 vocabularies. */
    public static final int DEFAULT_FIRST_ID = 3;
    public static final int DEFAULT_END_ID = 259;

    public TokenSpace {
        if (firstId < 0 || endId - firstId < 2) {
            throw new IllegalArgumentException("token id range [" + firstId + ", " + endId + ") needs >= 2 ids from 0 up");
        }
        if (blockTokens < 1) {
            throw new IllegalArgumentException("blockTokens must be >= 1, got " + blockTokens);
        }
    }

    /** Number of distinct ids. */
    public int idCount() {
        return endId - firstId;
    }

    /** Fills {@code out[offset, offset + count)} with the first {@code count} tokens of block {@code hashId}. */
    public void block(long hashId, int[] out, int offset, int count) {
        if (count > blockTokens) {
            throw new IllegalArgumentException("block has " + blockTokens + " tokens, asked for " + count);
        }
        int radix = idCount();
        int half = radix / 2;
        long rest = hashId;
        int i = 0;
        // the id in base `half`, least significant digit first; a digit in the upper half of the
        // range means "more digits follow", so the spelling is prefix-free (self-delimiting)
        while (i < count) {
            long digit = Math.floorMod(rest, (long) half);
            rest = Math.floorDiv(rest, (long) half);
            out[offset + i++] = firstId + (int) digit + (rest != 0 ? half : 0);
            if (rest == 0) {
                break;
            }
        }
        SplittableRandom random = new SplittableRandom(mix(seed, hashId));
        for (; i < count; i++) {
            out[offset + i] = firstId + random.nextInt(radix);
        }
    }

    /** {@code count} pseudo-random ids from a stream named by {@code streamId}. */
    public int[] random(long streamId, int count) {
        SplittableRandom random = new SplittableRandom(mix(seed ^ 0x5DEECE66DL, streamId));
        int[] out = new int[count];
        for (int i = 0; i < count; i++) {
            out[i] = firstId + random.nextInt(idCount());
        }
        return out;
    }

    static long mix(long seed, long id) {
        long z = seed * 0x9E3779B97F4A7C15L + id;
        z = (z ^ (z >>> 33)) * 0xFF51AFD7ED558CCDL;
        z = (z ^ (z >>> 33)) * 0xC4CEB9FE1A85EC53L;
        return z ^ (z >>> 33);
    }
}
