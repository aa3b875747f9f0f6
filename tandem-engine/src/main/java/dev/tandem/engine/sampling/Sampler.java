package dev.tandem.engine.sampling;

import dev.tandem.core.GeneratedToken;
import dev.tandem.core.SamplingParams;
import java.util.Arrays;

/**
 * Chooses the next token of a sequence from its logits row.
 *
 * <h2>Design</h2>
 * For one row of raw logits {@code z} (the model's output, never modified):
 * <ol>
 *   <li><b>logprobs</b> (if asked): {@code log_softmax(z)} of the chosen token and of the n most
 *       likely tokens, from the <em>unmodified</em> logits (OpenAI's definition);</li>
 *   <li><b>penalties</b> on a copy {@code w} of {@code z}, for every id seen in the prompt or
 *       generated so far with count {@code c} (llama.cpp's penalties sampler):
 *       {@code w = w <= 0 ? w * repetition : w / repetition}, then
 *       {@code w -= c * frequency + (c > 0 ? presence : 0)};</li>
 *   <li><b>greedy</b> (temperature 0): the argmax of {@code w}, lowest id on ties; done;</li>
 *   <li><b>temperature</b>: {@code p_i = exp((w_i - max w) / T)} (unnormalised);</li>
 *   <li><b>top-k</b>: keep the k most likely; <b>top-p</b>: then keep the smallest most-likely-first
 *       prefix whose mass reaches p of the kept mass; <b>min-p</b>: then drop tokens with
 *       {@code p < minP * p_max};</li>
 *   <li><b>draw</b>: one uniform number from the sequence's stream, scaled by the kept mass,
 *       walked over the kept tokens (most likely first when they were sorted, else by id).</li>
 * </ol>
 * Sorting is avoided unless top-k or top-p need it: probabilities and ids are packed into one
 * {@code long} per token ({@code floatBits(p) << 32 | ~id}, which orders by probability, then by
 * lower id), a quickselect brings the best m to the front, and only those m are sorted; top-p
 * starts with m = 64 and grows m fourfold until the kept mass reaches p.
 *
 * <h2>Concurrency</h2>
 * Owned by the engine thread; its buffers are reused for every sequence and step. Nothing is
 * allocated per token except the returned {@link GeneratedToken} (and its top-n arrays when
 * logprobs are asked for).
 *
 * <h2>References</h2>
 * llama.cpp {@code llama_sampler_init_penalties}; OpenAI API (presence/frequency penalties,
 * logprobs); Holtzman et al. 2019 (top-p); Nguyen et al. 2024 (min-p).
 */
public final class Sampler {
    /** First quickselect size for top-p; grows fourfold until enough mass is kept. */
    private static final int TOP_P_FIRST_CANDIDATES = 64;

    private final int vocabSize;
    private final float[] work;   // [vocab] penalised logits
    private final float[] probs;  // [vocab] unnormalised tempered probabilities
    private final long[] keys;    // [vocab] packed (probability, ~id), best first after selection
    private final int[] topIds = new int[20];
    private final float[] topValues = new float[20];

    // the kept candidate set of the last prepare(): keys[0..keptCount) when sorted, else all of probs
    private int keptCount;
    private boolean keptSorted;
    private double keptMass;

    public Sampler(int vocabSize) {
        if (vocabSize <= 0) {
            throw new IllegalArgumentException("vocabSize " + vocabSize);
        }
        this.vocabSize = vocabSize;
        this.work = new float[vocabSize];
        this.probs = new float[vocabSize];
        this.keys = new long[vocabSize];
    }

    public int vocabSize() {
        return vocabSize;
    }

    /**
     * Samples the next token from {@code logits[offset .. offset + vocabSize)} (left unchanged),
     * advancing the sequence's random stream once when not greedy. The caller then reports the
     * token back through {@link SequenceSampling#observe}.
     */
    public GeneratedToken sample(float[] logits, int offset, SequenceSampling seq) {
        return sample(logits, offset, seq, null);
    }

    /**
     * Like {@link #sample(float[], int, SequenceSampling)}, choosing only among the tokens whose
     * bit is set in {@code allowed} (bit id of word id / 64; null allows all): the others' logits
     * become -infinity after the penalties, before temperature, top-k, top-p and min-p. Logprobs
     * still come from the unmodified logits. {@code allowed} must have a bit set.
     */
    public GeneratedToken sample(float[] logits, int offset, SequenceSampling seq, long[] allowed) {
        SamplingParams p = seq.params();
        float[] w = logits;
        int wOff = offset;
        if (seq.hasPenalties() || allowed != null) {
            System.arraycopy(logits, offset, work, 0, vocabSize);
            if (seq.hasPenalties()) {
                applyPenalties(work, seq);
            }
            if (allowed != null) {
                applyMask(work, allowed);
            }
            w = work;
            wOff = 0;
        }
        int token;
        if (p.greedy()) {
            token = argmax(w, wOff, vocabSize);
        } else {
            prepare(w, wOff, p);
            token = draw(seq.nextDouble());
        }
        if (seq.topLogprobs() < 0) {
            return GeneratedToken.of(token);
        }
        return withLogprobs(logits, offset, token, seq.topLogprobs());
    }

    /** Sets the logit of every token not in {@code allowed} to -infinity. */
    private void applyMask(float[] w, long[] allowed) {
        for (int word = 0; word < allowed.length; word++) {
            long bits = allowed[word];
            if (bits == -1L) {
                continue;
            }
            int base = word << 6;
            int end = Math.min(64, vocabSize - base);
            for (int b = 0; b < end; b++) {
                if ((bits & (1L << b)) == 0) {
                    w[base + b] = Float.NEGATIVE_INFINITY;
                }
            }
        }
    }

    /** Penalised logits of {@code w} in place (visible to tests). */
    static void applyPenalties(float[] w, SequenceSampling seq) {
        SamplingParams p = seq.params();
        float repetition = p.repetitionPenalty();
        float frequency = p.frequencyPenalty();
        float presence = p.presencePenalty();
        for (int i = 0; i < seq.seenCount(); i++) {
            int id = seq.seen(i);
            int c = seq.count(id);
            float v = w[id];
            if (repetition != 1f) {
                v = v <= 0f ? v * repetition : v / repetition;
            }
            w[id] = v - (c * frequency + (c > 0 ? presence : 0f));
        }
    }

    /**
     * The normalised distribution the next draw would use, for tests: probability per id after
     * penalties, temperature, top-k, top-p and min-p. Not for greedy parameters.
     */
    float[] distribution(float[] logits, SequenceSampling seq) {
        float[] w = logits.clone();
        if (seq.hasPenalties()) {
            applyPenalties(w, seq);
        }
        prepare(w, 0, seq.params());
        float[] out = new float[vocabSize];
        if (keptSorted) {
            for (int i = 0; i < keptCount; i++) {
                int id = idOf(keys[i]);
                out[id] = (float) (probs[id] / keptMass);
            }
        } else {
            for (int id = 0; id < vocabSize; id++) {
                out[id] = (float) (probs[id] / keptMass);
            }
        }
        return out;
    }

    /** Computes tempered probabilities and the kept candidate set. */
    private void prepare(float[] w, int off, SamplingParams p) {
        float max = w[off];
        for (int i = 1; i < vocabSize; i++) {
            max = Math.max(max, w[off + i]);
        }
        float invT = 1f / p.temperature();
        double total = 0;
        for (int i = 0; i < vocabSize; i++) {
            float e = (float) Math.exp((w[off + i] - max) * invT);
            probs[i] = e;
            total += e;
        }
        keptSorted = false;
        keptCount = vocabSize;
        keptMass = total;
        if (p.topK() > 0 && p.topK() < vocabSize) {
            selectBest(p.topK());
            keptMass = prefixMass(keptCount);
        }
        if (p.topP() < 1f) {
            applyTopP(p.topP());
        }
        if (p.minP() > 0f) {
            applyMinP(p.minP());
        }
    }

    private void applyTopP(float topP) {
        double target = topP * keptMass;
        if (!keptSorted) {
            int m = Math.min(TOP_P_FIRST_CANDIDATES, vocabSize);
            while (true) {
                selectBest(m);
                if (m == vocabSize || prefixMass(m) >= target) {
                    break;
                }
                m = Math.min(vocabSize, m * 4);
            }
        }
        double cum = 0;
        int n = 0;
        while (n < keptCount) {
            cum += probs[idOf(keys[n])];
            n++;
            if (cum >= target) {
                break;
            }
        }
        keptCount = n;
        keptMass = cum;
    }

    private void applyMinP(float minP) {
        // the most likely token has tempered probability exp(0) = 1 and is always kept
        float threshold = minP;
        if (keptSorted) {
            int n = keptCount;
            while (n > 1 && probs[idOf(keys[n - 1])] < threshold) {
                n--;
            }
            keptCount = n;
            keptMass = prefixMass(n);
        } else {
            double total = 0;
            for (int i = 0; i < vocabSize; i++) {
                if (probs[i] < threshold) {
                    probs[i] = 0f;
                } else {
                    total += probs[i];
                }
            }
            keptMass = total;
        }
    }

    private int draw(double uniform) {
        double r = uniform * keptMass;
        double cum = 0;
        if (keptSorted) {
            for (int i = 0; i < keptCount; i++) {
                int id = idOf(keys[i]);
                cum += probs[id];
                if (r < cum) {
                    return id;
                }
            }
            return idOf(keys[keptCount - 1]);
        }
        int last = 0;
        for (int i = 0; i < vocabSize; i++) {
            float q = probs[i];
            if (q > 0f) {
                cum += q;
                last = i;
                if (r < cum) {
                    return i;
                }
            }
        }
        return last; // rounding: r landed past the last bucket
    }

    /** Moves the m most likely tokens to keys[0..m), sorted best first. */
    private void selectBest(int m) {
        if (!keptSorted || m > keptCount) {
            for (int i = 0; i < vocabSize; i++) {
                keys[i] = ((long) Float.floatToRawIntBits(probs[i]) << 32) | (~i & 0xFFFF_FFFFL);
            }
            if (m < vocabSize) {
                quickselect(keys, vocabSize, m);
            }
        }
        Arrays.sort(keys, 0, m);
        for (int i = 0, j = m - 1; i < j; i++, j--) {
            long t = keys[i];
            keys[i] = keys[j];
            keys[j] = t;
        }
        keptSorted = true;
        keptCount = m;
    }

    private double prefixMass(int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += probs[idOf(keys[i])];
        }
        return s;
    }

    private static int idOf(long key) {
        return ~(int) key;
    }

    /**
     * Hoare-partition quickselect (descending): afterwards keys[0..m) hold the m largest keys in
     * some order. Keys are distinct (each carries its id), so every partition step makes progress.
     */
    static void quickselect(long[] a, int length, int m) {
        int lo = 0;
        int hi = length - 1;
        int target = m - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            long pivot = median(a[lo], a[mid], a[hi]);
            int i = lo;
            int j = hi;
            while (i <= j) {
                while (a[i] > pivot) {
                    i++;
                }
                while (a[j] < pivot) {
                    j--;
                }
                if (i <= j) {
                    long t = a[i];
                    a[i] = a[j];
                    a[j] = t;
                    i++;
                    j--;
                }
            }
            if (target <= j) {
                hi = j;
            } else if (target >= i) {
                lo = i;
            } else {
                return;
            }
        }
    }

    private static long median(long a, long b, long c) {
        return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
    }

    static int argmax(float[] w, int off, int n) {
        int best = 0;
        float bestValue = w[off];
        for (int i = 1; i < n; i++) {
            float v = w[off + i];
            if (v > bestValue) {
                bestValue = v;
                best = i;
            }
        }
        return best;
    }

    private GeneratedToken withLogprobs(float[] z, int off, int token, int n) {
        float max = z[off];
        for (int i = 1; i < vocabSize; i++) {
            max = Math.max(max, z[off + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocabSize; i++) {
            sum += Math.exp(z[off + i] - max);
        }
        float logZ = (float) (max + Math.log(sum));
        float chosen = z[off + token] - logZ;
        if (n == 0) {
            return new GeneratedToken(token, chosen, null, null);
        }
        n = Math.min(n, vocabSize);
        // insertion into a best-first list of n; strict > keeps the lower id first on ties
        int have = 0;
        for (int i = 0; i < vocabSize; i++) {
            float v = z[off + i];
            if (have == n && v <= topValues[n - 1]) {
                continue;
            }
            int pos = have < n ? have++ : n - 1;
            while (pos > 0 && v > topValues[pos - 1]) {
                topValues[pos] = topValues[pos - 1];
                topIds[pos] = topIds[pos - 1];
                pos--;
            }
            topValues[pos] = v;
            topIds[pos] = i;
        }
        int[] ids = Arrays.copyOf(topIds, n);
        float[] lps = new float[n];
        for (int i = 0; i < n; i++) {
            lps[i] = topValues[i] - logZ;
        }
        return new GeneratedToken(token, chosen, ids, lps);
    }
}
