package dev.tandem.bench;

import java.util.Arrays;

/**
 * Summary of a sample (latencies in ms): count, mean, min, max and the 50th, 90th, 95th and 99th
 * percentiles, computed exactly from the sorted sample.
 *
 * <p>Percentile definition: linear interpolation between closest ranks (Hyndman and Fan's type 7,
 * the default of numpy.percentile, which vLLM's and SGLang's benchmarks use). For the sorted
 * sample {@code x[0..n-1]} and {@code p} in [0, 100]: {@code h = (n - 1) * p / 100},
 * {@code P = x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])}. Worked example:
 * for {1, 2, 3, 4}, p50 has h = 1.5 and is 2.5; p90 has h = 2.7 and is 3.7.
 * An empty sample has count 0 and NaN everywhere else.
 */
public record Distribution(int count, double mean, double min, double p50, double p90, double p95, double p99,
                           double max) {

    public static final Distribution EMPTY = new Distribution(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN,
            Double.NaN, Double.NaN, Double.NaN);

    /** Summarises {@code values} (not modified). */
    public static Distribution of(double[] values) {
        if (values.length == 0) {
            return EMPTY;
        }
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        double sum = 0;
        for (double v : sorted) {
            sum += v;
        }
        return new Distribution(sorted.length, sum / sorted.length, sorted[0], percentile(sorted, 50),
                percentile(sorted, 90), percentile(sorted, 95), percentile(sorted, 99), sorted[sorted.length - 1]);
    }

    /** The {@code p}-th percentile of an ascending, non-empty array (definition above). */
    public static double percentile(double[] sorted, double p) {
        if (sorted.length == 0) {
            throw new IllegalArgumentException("percentile of an empty sample");
        }
        if (!(p >= 0 && p <= 100)) {
            throw new IllegalArgumentException("percentile must be in [0, 100], got " + p);
        }
        double h = (sorted.length - 1) * p / 100.0;
        int lo = (int) Math.floor(h);
        if (lo >= sorted.length - 1) {
            return sorted[sorted.length - 1];
        }
        return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo]);
    }
}
