package dev.tandem.cli.planner;

import dev.tandem.core.ConfigException;

/**
 * What the planner aims for and how far it may go.
 *
 * @param ttftSloMs      objective for the window's p95 time to first token, ms (drives the prefill pool)
 * @param itlSloMs       objective for the window's p95 inter-token latency, ms (drives the decode pool)
 * @param minPrefill     fewest prefill workers
 * @param maxPrefill     most prefill workers
 * @param minDecode      fewest decode workers
 * @param maxDecode      most decode workers
 * @param cooldownMs     after a pool changes, no further change of that pool for this long, ms
 * @param scaleDownHoldMs a pool shrinks only after it has had headroom this long without a break, ms
 * @param headroomRatio  latency below {@code headroomRatio * objective} counts as headroom (hysteresis:
 *                       between that and the objective nothing changes), in (0, 1)
 * @param queuePerWorker requests waiting per worker of a pool above which it grows even before its
 *                       latency objective is missed
 * @param windowMs       the metrics window the quantiles cover, ms
 */
public record PlannerConfig(double ttftSloMs, double itlSloMs, int minPrefill, int maxPrefill, int minDecode,
                            int maxDecode, long cooldownMs, long scaleDownHoldMs, double headroomRatio,
                            double queuePerWorker, long windowMs) {
    public static final long DEFAULT_COOLDOWN_MS = 10_000;
    public static final long DEFAULT_SCALE_DOWN_HOLD_MS = 20_000;
    public static final double DEFAULT_HEADROOM_RATIO = 0.5;
    public static final double DEFAULT_QUEUE_PER_WORKER = 4;
    public static final long DEFAULT_WINDOW_MS = 10_000;

    public PlannerConfig {
        if (!(ttftSloMs > 0) || !(itlSloMs > 0)) {
            throw new ConfigException("--ttft-slo-ms and --itl-slo-ms must be positive, got " + ttftSloMs + " and "
                    + itlSloMs);
        }
        bounds("prefill", minPrefill, maxPrefill);
        bounds("decode", minDecode, maxDecode);
        if (cooldownMs < 0 || scaleDownHoldMs < 0 || windowMs <= 0) {
            throw new ConfigException("cooldown and hold must be >= 0 ms and the window > 0 ms, got " + cooldownMs
                    + ", " + scaleDownHoldMs + ", " + windowMs);
        }
        if (!(headroomRatio > 0 && headroomRatio < 1)) {
            throw new ConfigException("headroom ratio must be in (0, 1), got " + headroomRatio);
        }
        if (!(queuePerWorker > 0)) {
            throw new ConfigException("queue per worker must be positive, got " + queuePerWorker);
        }
    }

    private static void bounds(String pool, int min, int max) {
        if (min < 0 || max < 1 || min > max) {
            throw new ConfigException("--min-" + pool + " and --max-" + pool + " must satisfy 0 <= min <= max and "
                    + "max >= 1, got " + min + " and " + max);
        }
    }

    /** Clamps {@code n} into the pool's bounds. */
    int clamp(Pool pool, int n) {
        return switch (pool) {
            case PREFILL -> Math.clamp(n, minPrefill, maxPrefill);
            case DECODE -> Math.clamp(n, minDecode, maxDecode);
        };
    }

    int min(Pool pool) {
        return pool == Pool.PREFILL ? minPrefill : minDecode;
    }

    int max(Pool pool) {
        return pool == Pool.PREFILL ? maxPrefill : maxDecode;
    }

    /** The pool's latency objective, ms. */
    double sloMs(Pool pool) {
        return pool == Pool.PREFILL ? ttftSloMs : itlSloMs;
    }
}
