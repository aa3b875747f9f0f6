package dev.tandem.engine.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.core.GeneratedToken;
import dev.tandem.core.SamplingParams;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SamplerTest {
    /** Logits whose softmax at temperature 1 is exactly (0.1, 0.2, 0.3, 0.4). */
    private static final float[] LN_P = {(float) Math.log(0.1), (float) Math.log(0.2), (float) Math.log(0.3),
        (float) Math.log(0.4)};

    private static SamplingParams params(float t, int topK, float topP, float minP) {
        return new SamplingParams(t, topK, topP, minP, 7L, 1f, 0f, 0f);
    }

    private static SequenceSampling seq(SamplingParams p) {
        return new SequenceSampling(p, 7L, LN_P.length, -1);
    }

    private static float[] dist(SamplingParams p) {
        return new Sampler(LN_P.length).distribution(LN_P, seq(p));
    }

    @Test
    void distribution_temperatureOne_isSoftmax() {
        assertThat(dist(params(1f, 0, 1f, 0f))).containsExactly(new float[] {0.1f, 0.2f, 0.3f, 0.4f}, within(1e-6f));
    }

    @Test
    void distribution_temperatureHalf_squaresProbabilities() {
        // p^(1/T) = p^2 -> (1, 4, 9, 16) / 30
        assertThat(dist(params(0.5f, 0, 1f, 0f)))
                .containsExactly(new float[] {1 / 30f, 4 / 30f, 9 / 30f, 16 / 30f}, within(1e-6f));
    }

    @Test
    void distribution_topK2_keepsTwoBestRenormalised() {
        assertThat(dist(params(1f, 2, 1f, 0f))).containsExactly(new float[] {0, 0, 3 / 7f, 4 / 7f}, within(1e-6f));
    }

    @Test
    void distribution_topP06_keepsSmallestPrefixReachingP() {
        // sorted 0.4, 0.3 (cumulative 0.7 >= 0.6)
        assertThat(dist(params(1f, 0, 0.6f, 0f))).containsExactly(new float[] {0, 0, 3 / 7f, 4 / 7f}, within(1e-6f));
        // 0.4 alone reaches 0.35
        assertThat(dist(params(1f, 0, 0.35f, 0f))).containsExactly(new float[] {0, 0, 0, 1f}, within(1e-6f));
        // 0.4 + 0.3 + 0.2 = 0.9 reaches 0.8
        assertThat(dist(params(1f, 0, 0.8f, 0f)))
                .containsExactly(new float[] {0, 2 / 9f, 3 / 9f, 4 / 9f}, within(1e-6f));
    }

    @Test
    void distribution_topKThenTopP_topPIsRelativeToTopKMass() {
        // top-k 3 keeps (0.2, 0.3, 0.4) = 0.9; top-p 0.7 of that is 0.63: 0.4 + 0.3 = 0.7 >= 0.63
        assertThat(dist(params(1f, 3, 0.7f, 0f))).containsExactly(new float[] {0, 0, 3 / 7f, 4 / 7f}, within(1e-6f));
    }

    @Test
    void distribution_minP_dropsTokensBelowFractionOfBest() {
        // threshold 0.5 * 0.4 = 0.2: keeps 0.2, 0.3, 0.4
        assertThat(dist(params(1f, 0, 1f, 0.5f)))
                .containsExactly(new float[] {0, 2 / 9f, 3 / 9f, 4 / 9f}, within(1e-6f));
        // threshold 0.6 * 0.4 = 0.24: keeps 0.3, 0.4
        assertThat(dist(params(1f, 0, 1f, 0.6f))).containsExactly(new float[] {0, 0, 3 / 7f, 4 / 7f}, within(1e-6f));
    }

    @Test
    void distribution_minPAfterTopP_intersects() {
        // top-p 0.8 keeps (0.2, 0.3, 0.4); min-p 0.6 then keeps (0.3, 0.4)
        assertThat(dist(params(1f, 0, 0.8f, 0.6f))).containsExactly(new float[] {0, 0, 3 / 7f, 4 / 7f}, within(1e-6f));
    }

    @Test
    void sample_manyDraws_frequenciesMatchDistribution() {
        Sampler sampler = new Sampler(4);
        SequenceSampling s = seq(params(1f, 0, 0.8f, 0f));
        int[] counts = new int[4];
        int draws = 200_000;
        for (int i = 0; i < draws; i++) {
            counts[sampler.sample(LN_P, 0, s).tokenId()]++;
        }
        assertThat(counts[0]).isZero();
        assertThat(counts[1] / (double) draws).isCloseTo(2 / 9.0, within(0.005));
        assertThat(counts[2] / (double) draws).isCloseTo(3 / 9.0, within(0.005));
        assertThat(counts[3] / (double) draws).isCloseTo(4 / 9.0, within(0.005));
    }

    @Test
    void sample_largeVocabTopP_drawsOnlyFromNucleus() {
        // 1,000 ids: id i has logit -i/10; the nucleus of 0.5 is the first ids whose mass reaches half
        int v = 1000;
        float[] logits = new float[v];
        double total = 0;
        for (int i = 0; i < v; i++) {
            logits[i] = -i / 10f;
            total += Math.exp(logits[i]);
        }
        int nucleus = 0;
        double cum = 0;
        while (cum < 0.5 * total) {
            cum += Math.exp(logits[nucleus++]);
        }
        Sampler sampler = new Sampler(v);
        SequenceSampling s = new SequenceSampling(params(1f, 0, 0.5f, 0f), 3L, v, -1);
        float[] d = sampler.distribution(logits, s);
        for (int i = 0; i < v; i++) {
            if (i < nucleus) {
                assertThat(d[i]).as("id %d", i).isCloseTo((float) (Math.exp(logits[i]) / cum), within(1e-5f));
            } else {
                assertThat(d[i]).as("id %d", i).isZero();
            }
        }
        for (int i = 0; i < 2000; i++) {
            assertThat(sampler.sample(logits, 0, s).tokenId()).isLessThan(nucleus);
        }
    }

    @Test
    void sample_greedy_picksArgmaxLowestIdOnTies() {
        Sampler sampler = new Sampler(5);
        SequenceSampling s = new SequenceSampling(SamplingParams.GREEDY, 0L, 5, -1);
        assertThat(sampler.sample(new float[] {1, 3, 2, 3, 0}, 0, s).tokenId()).isEqualTo(1);
        // offset into a batch of rows
        float[] rows = {9, 0, 0, 0, 0, /* row 1 */ 0, 0, 0, 0, 5};
        assertThat(sampler.sample(rows, 5, s).tokenId()).isEqualTo(4);
    }

    @Test
    void applyPenalties_seenTokens_followLlamaCppFormula() {
        SamplingParams p = new SamplingParams(0f, 0, 1f, 0f, null, 2f, 0.25f, 0.5f);
        SequenceSampling s = new SequenceSampling(p, 0L, 4, -1);
        s.observe(0);
        s.observe(1);
        s.observe(0);
        float[] w = {2f, -1f, 0.5f, 1f};
        Sampler.applyPenalties(w, s);
        // id 0 (count 2): 2 / 2 = 1; 1 - 2 * 0.5 - 0.25 = -0.25
        // id 1 (count 1): -1 * 2 = -2; -2 - 0.5 - 0.25 = -2.75
        assertThat(w).containsExactly(new float[] {-0.25f, -2.75f, 0.5f, 1f}, within(1e-6f));
        // greedy now prefers the unseen id 3 over the penalised id 0
        assertThat(new Sampler(4).sample(new float[] {2f, -1f, 0.5f, 1f}, 0, s).tokenId()).isEqualTo(3);
    }

    @Test
    void sample_logprobs_areLogSoftmaxOfUnmodifiedLogits() {
        float[] z = {1f, 2f, 3f};
        double lse = 3 + Math.log(1 + Math.exp(-1) + Math.exp(-2));
        // temperature and penalties change the choice distribution, not the reported logprobs
        SamplingParams p = new SamplingParams(2f, 0, 1f, 0f, 11L, 1.5f, 0.5f, 0f);
        SequenceSampling s = new SequenceSampling(p, 11L, 3, 2);
        s.observe(2);
        GeneratedToken t = new Sampler(3).sample(z, 0, s);
        assertThat(t.logprob()).isCloseTo((float) (z[t.tokenId()] - lse), within(1e-5f));
        assertThat(t.topIds()).containsExactly(2, 1);
        assertThat(t.topLogprobs()).containsExactly(new float[] {(float) (3 - lse), (float) (2 - lse)}, within(1e-5f));
    }

    @Test
    void sample_logprobsZero_onlyChosenToken() {
        SequenceSampling s = new SequenceSampling(SamplingParams.GREEDY, 0L, 3, 0);
        GeneratedToken t = new Sampler(3).sample(new float[] {0f, 0f, 5f}, 0, s);
        assertThat(t.tokenId()).isEqualTo(2);
        assertThat(t.hasLogprob()).isTrue();
        assertThat(t.topIds()).isEmpty();
        GeneratedToken none = new Sampler(3).sample(new float[] {0f, 0f, 5f}, 0,
                new SequenceSampling(SamplingParams.GREEDY, 0L, 3, -1));
        assertThat(none.hasLogprob()).isFalse();
    }

    @Test
    void sample_sameSeed_sameTokensWhateverElseIsSampledInBetween() {
        int v = 50;
        float[] logits = new float[v];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < v; i++) {
            logits[i] = (float) r.nextGaussian();
        }
        SamplingParams p = new SamplingParams(0.9f, 20, 0.95f, 0.01f, 42L, 1.1f, 0f, 0.1f);
        Sampler sampler = new Sampler(v);
        int[] alone = run(sampler, logits, p, 42L, 100, null);
        // interleave another sequence with a different seed on the same sampler
        int[] interleaved = run(sampler, logits, p, 42L, 100, new SequenceSampling(p.withSeed(9L), 9L, v, 3));
        int[] otherSeed = run(sampler, logits, p, 43L, 100, null);
        assertThat(interleaved).containsExactly(alone);
        assertThat(otherSeed).isNotEqualTo(alone);
    }

    private static int[] run(Sampler sampler, float[] logits, SamplingParams p, long seed, int n, SequenceSampling other) {
        SequenceSampling s = new SequenceSampling(p, seed, logits.length, -1);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = sampler.sample(logits, 0, s).tokenId();
            s.observe(out[i]);
            if (other != null) {
                other.observe(sampler.sample(logits, 0, other).tokenId());
            }
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6})
    void quickselect_randomKeys_bringsLargestToFront(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int n = 1 + r.nextInt(3000);
        int m = 1 + r.nextInt(n);
        long[] a = r.longs(n).distinct().toArray();
        n = a.length;
        m = Math.min(m, n);
        long[] sorted = a.clone();
        Arrays.sort(sorted);
        Sampler.quickselect(a, n, m);
        long[] front = Arrays.copyOf(a, m);
        Arrays.sort(front);
        assertThat(front).as("seed %d n %d m %d", seed, n, m).containsExactly(Arrays.copyOfRange(sorted, n - m, n));
    }

    @Test
    void sample_steadyState_allocatesOnlyTheResult() {
        int v = 32_000;
        float[] logits = new float[v];
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < v; i++) {
            logits[i] = (float) r.nextGaussian() * 3;
        }
        Sampler sampler = new Sampler(v);
        SamplingParams p = new SamplingParams(0.8f, 40, 0.9f, 0.05f, 1L, 1.1f, 0.1f, 0.1f);
        SequenceSampling s = new SequenceSampling(p, 1L, v, -1);
        for (int i = 0; i < 200; i++) {
            s.observe(sampler.sample(logits, 0, s).tokenId() % 64);
        }
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = mx.getCurrentThreadAllocatedBytes();
        int calls = 500;
        for (int i = 0; i < calls; i++) {
            s.observe(sampler.sample(logits, 0, s).tokenId() % 64);
        }
        long perCall = (mx.getCurrentThreadAllocatedBytes() - before) / calls;
        assertThat(perCall).as("bytes allocated per sampled token").isLessThan(64);
    }
}
