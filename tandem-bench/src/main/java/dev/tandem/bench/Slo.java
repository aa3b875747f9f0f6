package dev.tandem.bench;

import dev.tandem.core.ConfigException;

/**
 * Service-level limits for goodput. A request is good when it succeeded, its TTFT is at most
 * {@code ttftMs}, and its inter-token latency (its mean gap per output token after the first,
 * i.e. its TPOT, as DistServe and vLLM define the decode limit) is at most {@code itlMs}; a
 * request with one output token has no inter-token latency and passes that limit. A limit that
 * is NaN is not applied.
 */
public record Slo(double ttftMs, double itlMs) {
    public static final Slo NONE = new Slo(Double.NaN, Double.NaN);

    public Slo {
        if (ttftMs <= 0 || itlMs <= 0 || Double.isInfinite(ttftMs) || Double.isInfinite(itlMs)) {
            throw new ConfigException("--ttft-slo-ms and --itl-slo-ms must be positive, got " + ttftMs + " and " + itlMs);
        }
    }

    /** True when at least one limit is set. */
    public boolean any() {
        return !Double.isNaN(ttftMs) || !Double.isNaN(itlMs);
    }

    /** Whether {@code r} meets every limit set. */
    public boolean good(RequestResult r) {
        if (!r.ok()) {
            return false;
        }
        if (!Double.isNaN(ttftMs) && !(r.ttftNs() >= 0 && r.ttftNs() / 1e6 <= ttftMs)) {
            return false;
        }
        double tpotNs = r.tpotNs();
        return Double.isNaN(itlMs) || tpotNs < 0 || tpotNs / 1e6 <= itlMs;
    }
}
