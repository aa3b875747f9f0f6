package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The deployments {@code tandem bench compare} puts side by side, each one {@code tandem serve}
 * in its own JVM:
 * <ul>
 *   <li>{@code baseline}: one aggregated worker;</li>
 *   <li>{@code round-robin}: N aggregated workers, requests spread in turn;</li>
 *   <li>{@code kv}: N aggregated workers behind the KV-aware router;</li>
 *   <li>{@code disagg}: P prefill + D decode workers behind the KV-aware router, with the
 *       server's default conditional dispatch (a decode worker that already holds most of a prompt
 *       prefills the rest itself);</li>
 *   <li>{@code disagg-rr}: "naive disaggregation": P prefill + D decode workers routed round-robin,
 *       every prompt prefilled on a prefill worker ({@code --enforce-disagg}) and its KV pulled.</li>
 * </ul>
 */
public enum ServeConfiguration {
    BASELINE("baseline"), ROUND_ROBIN("round-robin"), KV("kv"), DISAGG("disagg"), DISAGG_ROUND_ROBIN("disagg-rr");

    private final String id;

    ServeConfiguration(String id) {
        this.id = id;
    }

    public String id() {
        return id;
    }

    /** Short label for tables and chart axes. */
    public String label(int workers, int prefill, int decode) {
        return switch (this) {
            case BASELINE -> "1 worker";
            case ROUND_ROBIN -> "round-robin x" + workers;
            case KV -> "kv x" + workers;
            case DISAGG -> prefill + "P+" + decode + "D kv";
            case DISAGG_ROUND_ROBIN -> prefill + "P+" + decode + "D naive";
        };
    }

    /** The {@code tandem serve} arguments that make this deployment. */
    public List<String> serveArgs(int workers, int prefill, int decode) {
        return switch (this) {
            case BASELINE -> List.of("--workers", "1", "--router", "round-robin");
            case ROUND_ROBIN -> List.of("--workers", Integer.toString(workers), "--router", "round-robin");
            case KV -> List.of("--workers", Integer.toString(workers), "--router", "kv");
            case DISAGG -> List.of("--prefill-workers", Integer.toString(prefill), "--decode-workers",
                    Integer.toString(decode), "--router", "kv");
            case DISAGG_ROUND_ROBIN -> List.of("--prefill-workers", Integer.toString(prefill), "--decode-workers",
                    Integer.toString(decode), "--router", "round-robin", "--enforce-disagg");
        };
    }

    /** True for the prefill + decode deployments. */
    public boolean disaggregated() {
        return this == DISAGG || this == DISAGG_ROUND_ROBIN;
    }

    /** Parses a comma-separated list of ids. */
    public static List<ServeConfiguration> parseList(List<String> ids) {
        List<ServeConfiguration> out = new ArrayList<>();
        for (String raw : ids) {
            String id = raw.trim().toLowerCase(Locale.ROOT);
            ServeConfiguration c = null;
            for (ServeConfiguration v : values()) {
                if (v.id.equals(id)) {
                    c = v;
                }
            }
            if (c == null) {
                throw new ConfigException("unknown configuration '" + raw
                        + "' (expected baseline, round-robin, kv, disagg, disagg-rr)");
            }
            if (!out.contains(c)) {
                out.add(c);
            }
        }
        if (out.isEmpty()) {
            throw new ConfigException("--configs is empty");
        }
        return out;
    }
}
