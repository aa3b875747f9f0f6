package dev.tandem.engine.sampling;

import dev.tandem.core.SamplingParams;
import java.util.Arrays;

/**
 * The sampling state of one sequence: its parameters, its own random stream, and the token
 * counts the penalties need.
 *
 * <h2>Design</h2>
 * The random stream is SplitMix64 seeded with the request's seed and advanced exactly once per
 * sampled token, so a seeded request produces the same tokens whether it runs alone or batched
 * with others, and after a preemption (tokens already generated are never re-sampled).
 * Penalty counts cover the prompt and every generated token ({@link #observe}); they are kept
 * in a vocabulary-sized array plus the list of distinct ids seen, so that applying them costs
 * O(distinct tokens), not O(vocabulary). Both are allocated once, when the request has
 * penalties; nothing is allocated per token.
 *
 * <h2>Concurrency</h2>
 * Confined to the engine thread after the sequence is submitted.
 */
public final class SequenceSampling {
    private final SamplingParams params;
    private final int topLogprobs;
    private long rngState;
    private final int[] counts;  // [vocab] occurrences in prompt + generated; null without penalties
    private int[] seen;          // distinct ids with counts > 0, in first-seen order
    private int seenCount;

    /**
     * @param params      sampling parameters
     * @param seed        the random seed (the request's, or one drawn for it)
     * @param vocabSize   logits width
     * @param topLogprobs -1: none; 0: chosen token only; n: also the n best alternatives
     */
    public SequenceSampling(SamplingParams params, long seed, int vocabSize, int topLogprobs) {
        this.params = params;
        this.topLogprobs = topLogprobs;
        this.rngState = seed;
        if (params.hasPenalties()) {
            this.counts = new int[vocabSize];
            this.seen = new int[64];
        } else {
            this.counts = null;
        }
    }

    public SamplingParams params() {
        return params;
    }

    public int topLogprobs() {
        return topLogprobs;
    }

    /** Records a prompt or generated token for the penalties. */
    public void observe(int token) {
        if (counts == null || token < 0 || token >= counts.length) {
            return;
        }
        if (counts[token]++ == 0) {
            if (seenCount == seen.length) {
                seen = Arrays.copyOf(seen, seen.length * 2);
            }
            seen[seenCount++] = token;
        }
    }

    /** How often {@code token} occurred so far (0 without penalties). */
    public int count(int token) {
        return counts == null ? 0 : counts[token];
    }

    boolean hasPenalties() {
        return counts != null;
    }

    int seenCount() {
        return seenCount;
    }

    int seen(int i) {
        return seen[i];
    }

    /** Advances the random stream by one draw (a draw made elsewhere, e.g. by a prefill peer). */
    public void skipDraw() {
        nextDouble();
    }

    /**
     * Next uniform double in [0, 1): SplitMix64 (Steele, Lea, Flood 2014): add the golden-ratio
     * increment, then a variant-13 finaliser; 53 high bits become the mantissa.
     */
    double nextDouble() {
        long z = (rngState += 0x9E3779B97F4A7C15L);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 11) * 0x1.0p-53;
    }
}
