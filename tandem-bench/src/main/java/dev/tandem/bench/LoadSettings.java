package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import java.time.Duration;

/**
 * How requests are sent, the same for every run of a report.
 *
 * @param temperature    sampling temperature sent (0 = greedy)
 * @param seed           request seed sent, and the arrival-gap seed
 * @param ignoreEos      send {@code ignore_eos}
 * @param slo            goodput limits
 * @param requestTimeout deadline per request
 * @param apiKey         Bearer token, or null
 * @param quiet          no progress line
 * @param warmupRequests single-turn chat requests sent (and not measured) before each run, so
 *                       that the server's JIT compilation and first-touch costs stay out of the
 *                       figures; their prompts share no prefix with the workload's
 */
public record LoadSettings(double temperature, long seed, boolean ignoreEos, Slo slo, Duration requestTimeout,
                           String apiKey, boolean quiet, int warmupRequests) {
    public LoadSettings {
        if (warmupRequests < 0) {
            throw new ConfigException("--warmup-requests must be >= 0, got " + warmupRequests);
        }
        if (requestTimeout.isNegative() || requestTimeout.isZero()) {
            throw new ConfigException("--request-timeout-s must be positive, got " + requestTimeout.toMillis() / 1e3);
        }
    }

    /** The same settings with another number of warm-up requests. */
    public LoadSettings withWarmupRequests(int n) {
        return new LoadSettings(temperature, seed, ignoreEos, slo, requestTimeout, apiKey, quiet, n);
    }
}
