package dev.tandem.core;

/** Element type of the KV cache. */
public enum KvDtype {
    F32(4),
    F16(2);

    private final int bytes;

    KvDtype(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    /** Parses "f32" / "f16" (any case). */
    public static KvDtype parse(String text) {
        return ConfigException.parseEnum(KvDtype.class, text, "KV dtype");
    }
}
