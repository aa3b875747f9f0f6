package dev.tandem.engine.gguf;

import dev.tandem.core.ModelFormatException;

/** GGUF metadata value types, with their numeric ids and element sizes as stored in the file. */
public enum GgufValueType {
    UINT8(0, 1),
    INT8(1, 1),
    UINT16(2, 2),
    INT16(3, 2),
    UINT32(4, 4),
    INT32(5, 4),
    FLOAT32(6, 4),
    BOOL(7, 1),
    /** | length u64 | UTF-8 bytes |. */
    STRING(8, -1),
    /** | elementType u32 | count u64 | elements |. */
    ARRAY(9, -1),
    UINT64(10, 8),
    INT64(11, 8),
    FLOAT64(12, 8);

    private final int id;
    private final int sizeBytes;

    GgufValueType(int id, int sizeBytes) {
        this.id = id;
        this.sizeBytes = sizeBytes;
    }

    /** GGUF's numeric id. */
    public int id() {
        return id;
    }

    /** Bytes of one value, or -1 for the variable-length string and array. */
    public int sizeBytes() {
        return sizeBytes;
    }

    public static GgufValueType ofId(int id) {
        for (GgufValueType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        throw new ModelFormatException("unknown GGUF metadata value type " + id);
    }
}
