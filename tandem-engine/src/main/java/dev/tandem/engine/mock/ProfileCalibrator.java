package dev.tandem.engine.mock;

import dev.tandem.core.KvLayout;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.model.ForwardBatch;
import dev.tandem.engine.model.ModelRunner;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Fits a {@link TimingProfile} to a real model: times forward steps of the runner directly and
 * fits the mock's two quadratics by least squares.
 *
 * <pre>
 * prefill: one sequence, N prompt tokens in one step from an empty cache, N in prefillTokens;
 *          prefill_ms(N) = a N^2 + b N + c
 * decode:  B sequences of contextTokens positions each decode one token per step, B in
 *          decodeBatches; u = blocks in use / poolBlocks, where the pool holds
 *          max(decodeBatches) such sequences (so the largest batch is u close to 1);
 *          decode_ms(u) = d u^2 + e u + f
 * </pre>
 * Each point is the median of {@code reps} timed steps after one warm-up step. The mock's
 * decode term depends only on u, so the profile reproduces this engine's step times for
 * sequences of about {@code contextTokens} positions in a pool of that size; that is the
 * approximation Dynamo's mocker makes too.
 *
 * <p>One thread; allocates its own pool and frees it.
 */
public final class ProfileCalibrator {
    /** Measured points and the fitted profile. */
    public record Result(TimingProfile profile, int[] prefillTokens, double[] prefillMs, double[] decodeUtilisation,
                         double[] decodeMs) {
        @Override
        public String toString() {
            return profile + " prefill " + Arrays.toString(prefillTokens) + " -> " + Arrays.toString(prefillMs)
                    + " ms; decode u " + Arrays.toString(decodeUtilisation) + " -> " + Arrays.toString(decodeMs) + " ms";
        }
    }

    private final ModelRunner runner;
    private final KvLayout layout;
    private final int reps;

    public ProfileCalibrator(ModelRunner runner, KvLayout layout, int reps) {
        if (reps < 1) {
            throw new IllegalArgumentException("reps " + reps);
        }
        this.runner = runner;
        this.layout = layout;
        this.reps = reps;
    }

    public Result calibrate(String name, int[] prefillTokens, int[] decodeBatches, int contextTokens, int maxBatchTokens) {
        int bs = layout.blockSizeTokens();
        int perSequence = (contextTokens + 1 + bs - 1) / bs;
        int maxBatch = Arrays.stream(decodeBatches).max().orElse(1);
        int maxPrefill = Arrays.stream(prefillTokens).max().orElse(1);
        int poolBlocks = Math.max(maxBatch * perSequence, (maxPrefill + bs - 1) / bs);
        double[] prefillMs = new double[prefillTokens.length];
        double[] decodeU = new double[decodeBatches.length];
        double[] decodeMs = new double[decodeBatches.length];
        try (KvPool pool = KvPool.allocate(layout, poolBlocks)) {
            ForwardBatch batch = new ForwardBatch(Math.max(maxBatch, 1), Math.max(maxBatchTokens, Math.max(maxBatch, maxPrefill)));
            float[] logits = new float[Math.max(maxBatch, 1) * runner.vocabSize()];
            int[][] tables = new int[maxBatch][perSequence];
            for (int s = 0; s < maxBatch; s++) {
                for (int i = 0; i < perSequence; i++) {
                    tables[s][i] = s * perSequence + i;
                }
            }
            int[] prompt = tokens(Math.max(maxPrefill, contextTokens), runner.vocabSize(), 7);
            for (int p = 0; p < prefillTokens.length; p++) {
                int n = prefillTokens[p];
                int[] whole = contiguous((n + bs - 1) / bs);
                prefillMs[p] = medianMs(() -> {
                    batch.clear();
                    batch.add(prompt, 0, n, 0, whole, true);
                    runner.forward(batch, pool, logits);
                });
            }
            // fill every sequence's context once, then time single-token steps at the end of it
            for (int s = 0; s < maxBatch; s++) {
                for (int from = 0; from < contextTokens; from += maxBatchTokens) {
                    int n = Math.min(maxBatchTokens, contextTokens - from);
                    batch.clear();
                    batch.add(prompt, from, n, from, tables[s], true);
                    runner.forward(batch, pool, logits);
                }
            }
            for (int d = 0; d < decodeBatches.length; d++) {
                int b = decodeBatches[d];
                decodeU[d] = (double) b * perSequence / poolBlocks;
                decodeMs[d] = medianMs(() -> {
                    batch.clear();
                    for (int s = 0; s < b; s++) {
                        batch.add(prompt, contextTokens - 1, 1, contextTokens, tables[s], true);
                    }
                    runner.forward(batch, pool, logits);
                });
            }
        }
        double[] xs = Arrays.stream(prefillTokens).asDoubleStream().toArray();
        double[] pf = fitNonNegative(xs, prefillMs, 1, Arrays.stream(xs).max().orElse(1));
        double[] dc = fitNonNegative(decodeU, decodeMs, 0, 1);
        TimingProfile profile = new TimingProfile(name, pf[2], pf[1], pf[0], dc[2], dc[1], dc[0], 1.0);
        return new Result(profile, prefillTokens.clone(), prefillMs, decodeU, decodeMs);
    }

    private double medianMs(Runnable step) {
        step.run();
        double[] ms = new double[reps];
        for (int i = 0; i < reps; i++) {
            long t = System.nanoTime();
            step.run();
            ms[i] = (System.nanoTime() - t) / 1e6;
        }
        Arrays.sort(ms);
        return reps % 2 == 1 ? ms[reps / 2] : (ms[reps / 2 - 1] + ms[reps / 2]) / 2;
    }

    private static int[] contiguous(int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = i;
        }
        return t;
    }

    private static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextInt(vocab);
        }
        return t;
    }

    /**
     * {@link #fitQuadratic}, unless that curve dips below zero somewhere on [lo, hi] (noisy points
     * on a loaded machine can bend it down): then the least-squares line, and if that too goes
     * negative, the mean. A step time is never negative, and a profile that reaches zero would
     * make the mock's steps free.
     */
    static double[] fitNonNegative(double[] x, double[] y, double lo, double hi) {
        double[] q = fitQuadratic(x, y);
        if (minimum(q, lo, hi) >= 0) {
            return q;
        }
        double[] line = fitLine(x, y);
        if (minimum(line, lo, hi) >= 0) {
            return line;
        }
        return new double[] {Math.max(0, Arrays.stream(y).average().orElse(0)), 0, 0};
    }

    /** Least-squares {@code y = c0 + c1 x}; returns {c0, c1, 0}. */
    static double[] fitLine(double[] x, double[] y) {
        double mx = Arrays.stream(x).average().orElse(0);
        double my = Arrays.stream(y).average().orElse(0);
        double sxy = 0;
        double sxx = 0;
        for (int i = 0; i < x.length; i++) {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
        }
        double slope = sxx == 0 ? 0 : sxy / sxx;
        return new double[] {my - slope * mx, slope, 0};
    }

    /** The smallest value of {@code c0 + c1 x + c2 x^2} on [lo, hi]: at an end or at the vertex. */
    static double minimum(double[] c, double lo, double hi) {
        double m = Math.min(eval(c, lo), eval(c, hi));
        if (c[2] != 0) {
            double vertex = -c[1] / (2 * c[2]);
            if (vertex > lo && vertex < hi) {
                m = Math.min(m, eval(c, vertex));
            }
        }
        return m;
    }

    private static double eval(double[] c, double x) {
        return c[0] + c[1] * x + c[2] * x * x;
    }

    /**
     * Least-squares {@code y = c0 + c1 x + c2 x^2}; returns {c0, c1, c2}. With fewer than three
     * distinct points it fits a line (c2 = 0), with one a constant.
     */
    static double[] fitQuadratic(double[] x, double[] y) {
        long distinct = Arrays.stream(x).distinct().count();
        int terms = (int) Math.min(3, distinct);
        double[][] a = new double[terms][terms + 1];
        for (int i = 0; i < x.length; i++) {
            double[] pow = {1, x[i], x[i] * x[i]};
            for (int r = 0; r < terms; r++) {
                for (int c = 0; c < terms; c++) {
                    a[r][c] += pow[r] * pow[c];
                }
                a[r][terms] += pow[r] * y[i];
            }
        }
        // Gaussian elimination with partial pivoting on the normal equations
        for (int col = 0; col < terms; col++) {
            int pivot = col;
            for (int r = col + 1; r < terms; r++) {
                if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) {
                    pivot = r;
                }
            }
            double[] tmp = a[col];
            a[col] = a[pivot];
            a[pivot] = tmp;
            for (int r = 0; r < terms; r++) {
                if (r != col) {
                    double f = a[r][col] / a[col][col];
                    for (int c = col; c <= terms; c++) {
                        a[r][c] -= f * a[col][c];
                    }
                }
            }
        }
        double[] out = new double[3];
        for (int r = 0; r < terms; r++) {
            out[r] = a[r][terms] / a[r][r];
        }
        return out;
    }
}
