package dev.tandem.cli.planner;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * A classic Prometheus histogram at one moment: cumulative counts by bucket upper bound
 * (+Inf included), sorted by bound.
 *
 * @param buckets upper bound to cumulative count
 */
public record Histogram(Map<Double, Double> buckets) {
    public static final Histogram EMPTY = new Histogram(Map.of());

    public Histogram {
        buckets = Collections.unmodifiableMap(new TreeMap<>(buckets));
    }

    /** Observations counted (the +Inf bucket). */
    public double count() {
        Double inf = buckets.get(Double.POSITIVE_INFINITY);
        return inf == null ? 0 : inf;
    }

    /** What was observed since {@code earlier} (bucket by bucket; a reset counts from zero). */
    public Histogram minus(Histogram earlier) {
        Map<Double, Double> out = new TreeMap<>();
        boolean reset = count() < earlier.count();
        buckets.forEach((le, n) -> out.put(le, reset ? n : n - earlier.buckets.getOrDefault(le, 0.0)));
        return new Histogram(out);
    }

    /**
     * The {@code q} quantile, interpolated linearly inside its bucket as PromQL's
     * {@code histogram_quantile} does (from 0 for the first bucket; the highest finite bound when
     * it falls in +Inf). NaN when nothing was observed.
     */
    public double quantile(double q) {
        double total = count();
        if (total <= 0) {
            return Double.NaN;
        }
        double rank = q * total;
        double lowerBound = 0;
        double lowerCount = 0;
        for (Map.Entry<Double, Double> e : buckets.entrySet()) {
            double le = e.getKey();
            double n = e.getValue();
            if (n >= rank) {
                if (Double.isInfinite(le)) {
                    return lowerBound;
                }
                double inBucket = n - lowerCount;
                return inBucket <= 0 ? le : lowerBound + (le - lowerBound) * (rank - lowerCount) / inBucket;
            }
            lowerBound = le;
            lowerCount = n;
        }
        return lowerBound;
    }
}
