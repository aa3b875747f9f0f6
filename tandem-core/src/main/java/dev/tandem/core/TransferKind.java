package dev.tandem.core;

/**
 * How KV blocks can move from a serving worker to a pulling one, in order of preference: a pair
 * uses the first kind both sides support and can reach (see the transfer plane's selector).
 */
public enum TransferKind {
    /** Same JVM: one memory copy between two pools. */
    LOCAL,
    /** Same host: the serving pool is a file under /dev/shm that the puller maps read-only. */
    SHM,
    /** UCX (RDMA where the hardware exists; its own shared-memory or TCP transports otherwise). */
    UCX,
    /** Any host: framed TCP stream from the serving pool into the puller's blocks. */
    TCP,
    /**
     * The engines move the blocks themselves: vLLM's NixlConnector between two external servers.
     * Tandem only carries the serving engine's opaque transfer description
     * ({@link KvHandle#transferParams()}) from the prefill server's answer to the decode server's
     * request; no Tandem transfer plane serves or pulls through it. The endpoint's address is the
     * prefill server's base URL.
     */
    NIXL;

    /** Whether the engines move the blocks themselves (no Tandem transport serves or pulls this kind). */
    public boolean movedByEngines() {
        return this == NIXL;
    }

    /** Lower-case name used on the command line, in metrics and in registry records. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Parses "local", "shm", "ucx", "tcp" or "nixl" (any case). */
    public static TransferKind parse(String text) {
        return ConfigException.parseEnum(TransferKind.class, text, "transfer kind");
    }
}
