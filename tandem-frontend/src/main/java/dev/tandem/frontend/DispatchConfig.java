package dev.tandem.frontend;

import dev.tandem.core.ConfigException;

/**
 * How the frontend splits requests between prefill and decode workers and recovers lost decode
 * workers. Keys in the {@code tandem.frontend.*} namespace; {@code tandem serve} and
 * {@code tandem frontend} options set them.
 *
 * @param disaggMinTokens         {@code tandem.frontend.disagg-min-tokens} ({@code --disagg-min-tokens}):
 *                                a request is prefilled remotely only when the prompt tokens its
 *                                decode worker lacks (prompt minus the router's predicted cached
 *                                prefix) reach this; default {@value #DEFAULT_DISAGG_MIN_TOKENS}
 *                                tokens (four blocks), range [1, 1,048,576]. Chosen from measurement
 *                                (docs/benchmarks.md, "Disaggregated prefill and decode"): at 128 no
 *                                turn of the conversations workload was split at all; at 16 and 32
 *                                short follow-up turns paid a 15 to 55 ms handoff for a prefill that
 *                                costs less; 64 gave the lowest inter-token latency
 * @param enforceDisagg           {@code tandem.frontend.enforce-disagg} ({@code --enforce-disagg}):
 *                                every request is prefilled by a prefill worker, whatever its
 *                                length; without one (none registered, all failed) the request
 *                                gets 503; default false
 * @param prefillTimeoutMs        {@code tandem.frontend.prefill-timeout-ms}: longest wait for a
 *                                prefill worker's answer; past it the prefill is cancelled and the
 *                                decode worker prefills locally; default 10,000 ms, range [1, 3,600,000]
 * @param prefillBusyQueuedTokens {@code tandem.frontend.prefill-busy-queued-tokens}: a prefill
 *                                worker with this many prompt tokens queued counts as busy (not
 *                                chosen; when all are busy the decode worker prefills locally);
 *                                default 16,384, range [1, 2^62]
 * @param migrationLimit          {@code tandem.frontend.migration-limit} ({@code --migration-limit}):
 *                                how many times one stream may move to another decode worker after
 *                                its worker was lost; default 1, range [0, 100]
 */
public record DispatchConfig(int disaggMinTokens, boolean enforceDisagg, long prefillTimeoutMs,
                             long prefillBusyQueuedTokens, int migrationLimit) {
    public static final int DEFAULT_DISAGG_MIN_TOKENS = 64;
    public static final long DEFAULT_PREFILL_TIMEOUT_MS = 10_000;
    public static final long DEFAULT_PREFILL_BUSY_QUEUED_TOKENS = 16_384;
    public static final int DEFAULT_MIGRATION_LIMIT = 1;

    public DispatchConfig {
        range("disagg-min-tokens", disaggMinTokens, 1, 1 << 20);
        range("prefill-timeout-ms", prefillTimeoutMs, 1, 3_600_000);
        range("prefill-busy-queued-tokens", prefillBusyQueuedTokens, 1, 1L << 62);
        range("migration-limit", migrationLimit, 0, 100);
    }

    /** Every default. */
    public static DispatchConfig defaults() {
        return new DispatchConfig(DEFAULT_DISAGG_MIN_TOKENS, false, DEFAULT_PREFILL_TIMEOUT_MS,
                DEFAULT_PREFILL_BUSY_QUEUED_TOKENS, DEFAULT_MIGRATION_LIMIT);
    }

    public DispatchConfig withDisagg(int minTokens, boolean enforce) {
        return new DispatchConfig(minTokens, enforce, prefillTimeoutMs, prefillBusyQueuedTokens, migrationLimit);
    }

    public DispatchConfig withPrefillTimeoutMs(long ms) {
        return new DispatchConfig(disaggMinTokens, enforceDisagg, ms, prefillBusyQueuedTokens, migrationLimit);
    }

    public DispatchConfig withPrefillBusyQueuedTokens(long tokens) {
        return new DispatchConfig(disaggMinTokens, enforceDisagg, prefillTimeoutMs, tokens, migrationLimit);
    }

    public DispatchConfig withMigrationLimit(int limit) {
        return new DispatchConfig(disaggMinTokens, enforceDisagg, prefillTimeoutMs, prefillBusyQueuedTokens, limit);
    }

    private static void range(String name, long value, long min, long max) {
        if (value < min || value > max) {
            throw new ConfigException(name + " must be in [" + min + ", " + max + "], got " + value);
        }
    }
}
