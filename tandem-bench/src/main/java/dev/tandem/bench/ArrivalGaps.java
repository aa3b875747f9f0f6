package dev.tandem.bench;

import java.util.SplittableRandom;

/**
 * Gaps between arrivals of a {@link ArrivalMode.Rate}: {@code 1 / rate} each, or exponentially
 * distributed with mean {@code 1 / rate} (inverse transform: {@code -ln(1 - U) / rate}, U uniform
 * in [0, 1)), from a seeded stream so a run's arrival times repeat. Not thread-safe.
 */
final class ArrivalGaps {
    private final double meanNs;
    private final boolean poisson;
    private final SplittableRandom random;

    ArrivalGaps(ArrivalMode.Rate rate, long seed) {
        this.meanNs = 1e9 / rate.perSecond();
        this.poisson = rate.poisson();
        this.random = new SplittableRandom(seed);
    }

    /** The next gap, ns. */
    long nextNs() {
        double gap = poisson ? -Math.log(1.0 - random.nextDouble()) * meanNs : meanNs;
        return Math.round(gap);
    }
}
