package dev.tandem.worker;

import dev.tandem.core.ConfigException;

/**
 * A worker's disaggregation and metrics settings (the pin TTL, {@code --kv-handle-ttl}, is the
 * engine's {@code pinTtlMs}).
 *
 * @param transferTimeoutMs {@code tandem.worker.transfer-timeout-ms}: deadline of one KV pull by
 *                          this worker, ms; default 5,000, range [1, 600,000]
 * @param metricsPort       {@code tandem.worker.metrics-port}: port of the worker's
 *                          {@code GET /metrics}, 0 for any free one, -1 for none; default -1,
 *                          range [-1, 65535]
 */
public record DisaggOptions(long transferTimeoutMs, int metricsPort) {
    public static final DisaggOptions DEFAULT = new DisaggOptions(DisaggEngine.DEFAULT_TRANSFER_TIMEOUT_MS, -1);

    public DisaggOptions {
        if (transferTimeoutMs < 1 || transferTimeoutMs > 600_000) {
            throw new ConfigException("transfer timeout must be in [1, 600000] ms, got " + transferTimeoutMs);
        }
        if (metricsPort < -1 || metricsPort > 65535) {
            throw new ConfigException("--metrics-port must be in [-1, 65535], got " + metricsPort);
        }
    }
}
