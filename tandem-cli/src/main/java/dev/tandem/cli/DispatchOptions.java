package dev.tandem.cli;

import dev.tandem.core.ConfigException;
import dev.tandem.engine.EngineConfig;
import dev.tandem.frontend.DispatchConfig;
import java.util.Locale;
import picocli.CommandLine.Option;

/** Options of disaggregated serving shared by {@code tandem serve} and {@code tandem frontend}. */
final class DispatchOptions {
    @Option(names = "--disagg-min-tokens", defaultValue = "" + DispatchConfig.DEFAULT_DISAGG_MIN_TOKENS,
            description = "prefill remotely only when the decode worker lacks at least this many prompt tokens "
                    + "(default: ${DEFAULT-VALUE}, measured; see docs/benchmarks.md)")
    int disaggMinTokens;

    @Option(names = "--enforce-disagg", description = "every request is prefilled by a prefill worker; without one "
            + "the request gets 503 (default: decode workers prefill short prompts, and when prefill fails)")
    boolean enforceDisagg;

    @Option(names = "--prefill-timeout-ms", defaultValue = "" + DispatchConfig.DEFAULT_PREFILL_TIMEOUT_MS,
            description = "longest wait for a prefill worker; then the decode worker prefills (default: ${DEFAULT-VALUE})")
    long prefillTimeoutMs;

    @Option(names = "--prefill-busy-tokens", defaultValue = "" + DispatchConfig.DEFAULT_PREFILL_BUSY_QUEUED_TOKENS,
            description = "a prefill worker with this many prompt tokens queued is busy; when all are, decode "
                    + "workers prefill (default: ${DEFAULT-VALUE})")
    long prefillBusyTokens;

    @Option(names = "--migration-limit", defaultValue = "" + DispatchConfig.DEFAULT_MIGRATION_LIMIT,
            description = "times one stream may move to another decode worker when its worker is lost "
                    + "(default: ${DEFAULT-VALUE})")
    int migrationLimit;

    DispatchConfig dispatch() {
        return new DispatchConfig(disaggMinTokens, enforceDisagg, prefillTimeoutMs, prefillBusyTokens, migrationLimit);
    }

    /** Parses a duration: {@code 500}, {@code 500ms}, {@code 30s} or {@code 2m}; returns milliseconds. */
    static long parseMillis(String option, String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        long unit = 1;
        if (t.endsWith("ms")) {
            t = t.substring(0, t.length() - 2);
        } else if (t.endsWith("s")) {
            t = t.substring(0, t.length() - 1);
            unit = 1_000;
        } else if (t.endsWith("m")) {
            t = t.substring(0, t.length() - 1);
            unit = 60_000;
        }
        try {
            long v = Long.parseLong(t.trim()) * unit;
            if (v < 1) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new ConfigException(option + " must be a positive duration such as 30000, 500ms, 30s or 2m, got '"
                    + text + "'");
        }
    }

    /** The engine settings with the pin TTL of {@code --kv-handle-ttl} (null: unchanged). */
    static EngineConfig withHandleTtl(EngineConfig engine, String kvHandleTtl) {
        return kvHandleTtl == null ? engine : engine.withPinTtlMs(parseMillis("--kv-handle-ttl", kvHandleTtl));
    }
}
