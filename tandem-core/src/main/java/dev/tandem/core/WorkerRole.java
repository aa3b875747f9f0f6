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
        return ConfigException.parseEnum(WorkerRole.class, text, "role");
    }
}
