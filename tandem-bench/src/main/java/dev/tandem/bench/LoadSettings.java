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
 */
public record LoadSettings(double temperature, long seed, boolean ignoreEos, Slo slo, Duration requestTimeout,
                           String apiKey, boolean quiet) {
    public LoadSettings {
        if (requestTimeout.isNegative() || requestTimeout.isZero()) {
            throw new ConfigException("--request-timeout-s must be positive, got " + requestTimeout.toMillis() / 1e3);
        }
    }
}
