package dev.tandem.runtime.rpc;

import dev.tandem.core.EngineInfo;
import java.util.Objects;

/**
 * A worker's answer to a health check.
 *
 * @param serving false while the worker drains before shutdown (it finishes running requests but
 *                should receive no new ones)
 * @param info    what the worker serves
 */
public record HealthStatus(boolean serving, EngineInfo info) {
    public HealthStatus {
        Objects.requireNonNull(info, "info");
    }
}
