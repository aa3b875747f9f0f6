package dev.tandem.core;

/** What a worker does. */
public enum WorkerRole {
    /** Prefills and decodes its own requests. */
    AGGREGATED,
    /** Computes prompts' KV caches for decode workers. */
    PREFILL,
    /** Generates from KV caches it computed or pulled from a prefill worker. */
    DECODE;

    public static WorkerRole parse(String text) {
        for (WorkerRole r : values()) {
            if (r.name().equalsIgnoreCase(text.trim())) {
                return r;
            }
        }
        throw new ConfigException("unknown role '" + text + "' (expected aggregated, prefill or decode)");
    }
}
