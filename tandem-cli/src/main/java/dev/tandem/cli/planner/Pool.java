package dev.tandem.cli.planner;

import java.util.Locale;

/** The two worker pools the planner sizes: prefill workers (time to first token) and decode workers (inter-token latency). */
public enum Pool {
    PREFILL,
    DECODE;

    /** The worker role, as {@code tandem worker --role} and the registry spell it. */
    public String role() {
        return name().toLowerCase(Locale.ROOT);
    }
}
