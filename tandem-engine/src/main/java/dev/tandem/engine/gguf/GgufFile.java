package dev.tandem.engine.gguf;

import dev.tandem.core.ModelFormatException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF v2/v3 file mapped into memory. Tensor data is never copied: each {@link GgufTensor}
 * is a slice of the mapping, so files larger than 2 GiB and larger than the heap work.
 *
 * <pre>
 * GGUF, little-endian:
 * | magic "GGUF" u32 | version u32 | tensorCount u64 | kvCount u64 |
 * | kvCount x (key: string, valueType u32, value) |
 * | tensorCount x (name: string, nDims u32, dims u64[nDims], type u32, offset u64) |
 * | padding to general.alignment (default 32) | tensor data ... |
 * string = | length u64 | UTF-8 bytes |; array = | elemType u32 | count u64 | elements |
 * </pre>
 *
 * <p>Metadata values are decoded to Java types: integers to {@code Long}, floats to
 * {@code Double}, {@code Boolean}, {@code String}, and arrays to {@code long[]},
 * {@code double[]}, {@code boolean[]} or {@code String[]}.
 *
 * <p>Thread ownership: immutable after {@link #open}; safe for concurrent reads. The owner
 * closes it, which unmaps the file: no tensor view may be used after that.
 */
public final class GgufFile implements AutoCloseable {
    /** "GGUF" read as a little-endian u32. */
    public static final int MAGIC = 0x46554747;
    public static final int DEFAULT_ALIGNMENT = 32;

    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, GgufTensor> tensors;
    private final long dataOffset;

    private GgufFile(Path path, Arena arena, MemorySegment file, int version, Map<String, Object> metadata,
                     Map<String, GgufTensor> tensors, long dataOffset) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
        this.dataOffset = dataOffset;
    }

    /** Maps and parses {@code path}. Any defect is a {@link ModelFormatException} naming it. */
    public static GgufFile open(Path path) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment file;
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
                file = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            }
            GgufFile gguf = parse(path, arena, file);
            return gguf;
        } catch (NoSuchFileException e) {
            arena.close();
            throw new ModelFormatException("model file not found: " + path);
        } catch (IOException e) {
            arena.close();
            throw new ModelFormatException("cannot read model file " + path + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static GgufFile parse(Path path, Arena arena, MemorySegment file) {
        Cursor in = new Cursor(path, file);
        if (file.byteSize() < 24) {
            throw new ModelFormatException(path + " is not a GGUF file (only " + file.byteSize() + " bytes)");
        }
        int magic = in.u32();
        if (magic != MAGIC) {
            throw new ModelFormatException(path + " is not a GGUF file (magic 0x" + Integer.toHexString(magic)
                    + ", expected \"GGUF\")");
        }
        int version = in.u32();
        if (version != 2 && version != 3) {
            throw new ModelFormatException(path + ": unsupported GGUF version " + version + " (supported: 2, 3)");
        }
        long tensorCount = in.u64();
        long kvCount = in.u64();
        if (tensorCount < 0 || tensorCount > 1_000_000 || kvCount < 0 || kvCount > 1_000_000) {
            throw new ModelFormatException(path + ": implausible header (tensors=" + tensorCount + ", kv=" + kvCount + ")");
        }
        Map<String, Object> metadata = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = in.string();
            int type = in.u32();
            metadata.put(key, in.value(type, key));
        }
        int alignment = DEFAULT_ALIGNMENT;
        if (metadata.get("general.alignment") instanceof Long a) {
            if (a <= 0 || (a & (a - 1)) != 0) {
                throw new ModelFormatException(path + ": general.alignment must be a power of two, got " + a);
            }
            alignment = a.intValue();
        }
        record Info(String name, GgmlType type, long[] dims, long offset) {
        }
        Info[] infos = new Info[(int) tensorCount];
        for (int i = 0; i < tensorCount; i++) {
            String name = in.string();
            int nDims = in.u32();
            if (nDims < 1 || nDims > 4) {
                throw new ModelFormatException(path + ": tensor " + name + " has " + nDims + " dimensions");
            }
            long[] dims = new long[nDims];
            for (int d = 0; d < nDims; d++) {
                dims[d] = in.u64();
                if (dims[d] <= 0) {
                    throw new ModelFormatException(path + ": tensor " + name + " has dimension " + dims[d]);
                }
            }
            int typeId = in.u32();
            GgmlType type;
            try {
                type = GgmlType.ofId(typeId);
            } catch (ModelFormatException e) {
                throw new ModelFormatException(path + ": tensor " + name + " has unknown type id " + typeId);
            }
            infos[i] = new Info(name, type, dims, in.u64());
        }
        long dataOffset = alignUp(in.position(), alignment);
        Map<String, GgufTensor> tensors = new LinkedHashMap<>();
        for (Info info : infos) {
            long elements = 1;
            for (long d : info.dims) {
                elements = Math.multiplyExact(elements, d);
            }
            long bytes = info.type.bytesFor(elements);
            long start = dataOffset + info.offset;
            if (info.offset < 0 || start + bytes > file.byteSize()) {
                throw new ModelFormatException(path + " is truncated: tensor " + info.name + " needs bytes "
                        + start + ".." + (start + bytes) + " but the file has " + file.byteSize());
            }
            tensors.put(info.name, new GgufTensor(info.name, info.type, info.dims, info.offset,
                    file.asSlice(start, bytes)));
        }
        return new GgufFile(path, arena, file, version, Collections.unmodifiableMap(metadata),
                Collections.unmodifiableMap(tensors), dataOffset);
    }

    static long alignUp(long offset, int alignment) {
        return (offset + alignment - 1) / alignment * alignment;
    }

    public Path path() {
        return path;
    }

    public int version() {
        return version;
    }

    public long fileBytes() {
        return file.byteSize();
    }

    public long dataOffset() {
        return dataOffset;
    }

    /** All metadata in file order. */
    public Map<String, Object> metadata() {
        return metadata;
    }

    /** All tensors in file order. */
    public Map<String, GgufTensor> tensors() {
        return tensors;
    }

    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    public GgufTensor tensor(String name) {
        GgufTensor t = tensors.get(name);
        if (t == null) {
            throw new ModelFormatException(path + ": missing tensor " + name);
        }
        return t;
    }

    public GgufTensor tensorOrNull(String name) {
        return tensors.get(name);
    }

    public String string(String key) {
        return require(key, String.class);
    }

    public String string(String key, String fallback) {
        return metadata.get(key) instanceof String s ? s : fallback;
    }

    public long integer(String key) {
        return require(key, Long.class);
    }

    public long integer(String key, long fallback) {
        Object v = metadata.get(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Long l) {
            return l;
        }
        throw wrongType(key, v, Long.class);
    }

    public double real(String key, double fallback) {
        Object v = metadata.get(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Double d) {
            return d;
        }
        if (v instanceof Long l) {
            return l;
        }
        throw wrongType(key, v, Double.class);
    }

    public boolean bool(String key, boolean fallback) {
        Object v = metadata.get(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        throw wrongType(key, v, Boolean.class);
    }

    public String[] strings(String key) {
        Object v = metadata.get(key);
        return v == null ? null : require(key, String[].class);
    }

    public long[] integers(String key) {
        Object v = metadata.get(key);
        return v == null ? null : require(key, long[].class);
    }

    public double[] reals(String key) {
        Object v = metadata.get(key);
        if (v == null) {
            return null;
        }
        if (v instanceof long[] ints) {
            double[] out = new double[ints.length];
            for (int i = 0; i < ints.length; i++) {
                out[i] = ints[i];
            }
            return out;
        }
        return require(key, double[].class);
    }

    private <T> T require(String key, Class<T> type) {
        Object v = metadata.get(key);
        if (v == null) {
            throw new ModelFormatException(path + ": missing metadata key " + key);
        }
        if (!type.isInstance(v)) {
            throw wrongType(key, v, type);
        }
        return type.cast(v);
    }

    private ModelFormatException wrongType(String key, Object v, Class<?> type) {
        return new ModelFormatException(path + ": metadata key " + key + " is " + v.getClass().getSimpleName()
                + ", expected " + type.getSimpleName());
    }

    /** Unmaps the file. Tensor views are invalid afterwards. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    /** Reads the header region with bounds checks that name the file. */
    private static final class Cursor {
        private final Path path;
        private final MemorySegment seg;
        private long pos;

        Cursor(Path path, MemorySegment seg) {
            this.path = path;
            this.seg = seg;
        }

        long position() {
            return pos;
        }

        private void need(long bytes) {
            if (bytes < 0 || pos + bytes > seg.byteSize()) {
                throw new ModelFormatException(path + " is truncated: header needs " + bytes + " bytes at offset "
                        + pos + " but the file has " + seg.byteSize());
            }
        }

        int u32() {
            need(4);
            int v = seg.get(U32, pos);
            pos += 4;
            return v;
        }

        long u64() {
            need(8);
            long v = seg.get(U64, pos);
            pos += 8;
            return v;
        }

        String string() {
            long len = u64();
            if (len < 0 || len > Integer.MAX_VALUE) {
                throw new ModelFormatException(path + ": implausible string length " + len + " at offset " + (pos - 8));
            }
            need(len);
            byte[] bytes = seg.asSlice(pos, len).toArray(ValueLayout.JAVA_BYTE);
            pos += len;
            return new String(bytes, StandardCharsets.UTF_8);
        }

        Object value(int type, String key) {
            return switch (type) {
                case 0 -> { need(1); yield (long) Byte.toUnsignedInt(seg.get(ValueLayout.JAVA_BYTE, pos++)); }
                case 1 -> { need(1); yield (long) seg.get(ValueLayout.JAVA_BYTE, pos++); }
                case 2 -> { need(2); long v = Short.toUnsignedInt(seg.get(U16, pos)); pos += 2; yield v; }
                case 3 -> { need(2); long v = seg.get(U16, pos); pos += 2; yield v; }
                case 4 -> Integer.toUnsignedLong(u32());
                case 5 -> (long) u32();
                case 6 -> { need(4); double v = seg.get(F32, pos); pos += 4; yield v; }
                case 7 -> { need(1); yield seg.get(ValueLayout.JAVA_BYTE, pos++) != 0; }
                case 8 -> string();
                case 9 -> array(key);
                case 10, 11 -> u64();
                case 12 -> { need(8); double v = seg.get(F64, pos); pos += 8; yield v; }
                default -> throw new ModelFormatException(path + ": metadata key " + key + " has unknown value type " + type);
            };
        }

        private Object array(String key) {
            int elemType = u32();
            long count = u64();
            if (count < 0 || count > Integer.MAX_VALUE - 8) {
                throw new ModelFormatException(path + ": metadata array " + key + " has implausible length " + count);
            }
            int n = (int) count;
            return switch (elemType) {
                case 8 -> {
                    String[] out = new String[n];
                    for (int i = 0; i < n; i++) {
                        out[i] = string();
                    }
                    yield out;
                }
                case 6, 12 -> {
                    double[] out = new double[n];
                    for (int i = 0; i < n; i++) {
                        out[i] = (Double) value(elemType, key);
                    }
                    yield out;
                }
                case 7 -> {
                    boolean[] out = new boolean[n];
                    for (int i = 0; i < n; i++) {
                        out[i] = (Boolean) value(elemType, key);
                    }
                    yield out;
                }
                case 0, 1, 2, 3, 4, 5, 10, 11 -> {
                    long[] out = new long[n];
                    for (int i = 0; i < n; i++) {
                        out[i] = (Long) value(elemType, key);
                    }
                    yield out;
                }
                case 9 -> {
                    // Arrays of arrays are legal GGUF but unused by Llama-family models: keep them as lists.
                    Object[] out = new Object[n];
                    for (int i = 0; i < n; i++) {
                        out[i] = array(key);
                    }
                    yield List.of(out);
                }
                default -> throw new ModelFormatException(path + ": metadata array " + key
                        + " has unknown element type " + elemType);
            };
        }
    }
}
