package dev.tandem.engine.gguf;

import dev.tandem.core.TandemException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF v3 file: metadata of every GGUF value type (arrays and arrays of arrays
 * included), tensor infos, and tensor data streamed tensor by tensor, so a model of many
 * gigabytes is written with constant memory. The layout is the one {@link GgufFile} reads:
 *
 * <pre>
 * | "GGUF" | version u32 = 3 | tensorCount u64 | kvCount u64 |
 * | kvCount x (key string, valueType u32, value) |
 * | tensorCount x (name string, nDims u32, dims u64[nDims], ggmlType u32, offset u64) |
 * | zero padding to the alignment |
 * | tensor 0 data | zero padding to the alignment | tensor 1 data | padding | ... |
 * </pre>
 *
 * Every tensor's offset is relative to the start of the data section and a multiple of the
 * alignment; the last tensor is padded too, as ggml's own writer does. An alignment other than
 * the default 32 is recorded as {@code general.alignment} (u32), the first metadata entry.
 *
 * <p>Usage: put metadata, {@link #addTensor add tensors}, then {@link #write} once with a
 * {@link TensorData} that produces each tensor's bytes in the order the tensors were added.
 * The file appears atomically: bytes go to a temporary sibling that is moved over {@code out}
 * only when complete, and is deleted on any failure.
 *
 * <p>Thread ownership: one thread builds and writes; not safe for concurrent use.
 */
public final class GgufWriter {
    /** Produces the bytes of one tensor, exactly {@link TensorSpec#sizeBytes()} of them. */
    @FunctionalInterface
    public interface TensorData {
        void write(TensorSpec tensor, TensorSink sink) throws IOException;
    }

    /** Told how far the file has got; called on the writing thread about once per megabyte. */
    @FunctionalInterface
    public interface Progress {
        void update(long writtenBytes, long totalBytes);
    }

    /** GGUF's limit on a tensor name, in UTF-8 bytes (ggml's GGML_MAX_NAME minus the NUL). */
    public static final int MAX_TENSOR_NAME_BYTES = 63;
    static final int VERSION = 3;
    /** Size of the direct staging buffer between tensor producers and the file. */
    private static final int STAGING_BYTES = 1 << 20;

    private final int alignmentBytes;
    private final Map<String, Value> metadata = new LinkedHashMap<>();
    private final List<TensorSpec> tensors = new ArrayList<>();
    private final Map<String, TensorSpec> tensorsByName = new LinkedHashMap<>();
    private long dataBytes;
    private boolean written;

    public GgufWriter() {
        this(GgufFile.DEFAULT_ALIGNMENT);
    }

    /** @param alignmentBytes tensor data alignment, a power of two (ggml's default is 32) */
    public GgufWriter(int alignmentBytes) {
        if (alignmentBytes <= 0 || Integer.bitCount(alignmentBytes) != 1) {
            throw new IllegalArgumentException("alignment must be a power of two, got " + alignmentBytes);
        }
        this.alignmentBytes = alignmentBytes;
        if (alignmentBytes != GgufFile.DEFAULT_ALIGNMENT) {
            metadata.put("general.alignment", new Value(GgufValueType.UINT32, (long) alignmentBytes, null));
        }
    }

    /** A metadata value: a scalar (Long, Double, Boolean, String) or an {@link ArrayValue}. */
    private record Value(GgufValueType type, Object scalar, ArrayValue array) {
    }

    /**
     * A typed GGUF array. {@code values} is a {@code long[]} or {@code int[]} for the integer
     * types, {@code float[]} or {@code double[]} for FLOAT32/FLOAT64, {@code boolean[]} for BOOL,
     * {@code String[]} for STRING, and a {@code List<ArrayValue>} for an array of arrays.
     */
    public static final class ArrayValue {
        private final GgufValueType elementType;
        private final Object values;
        private final int length;

        public ArrayValue(GgufValueType elementType, Object values) {
            this.elementType = elementType;
            this.values = values;
            this.length = checkArray(elementType, values);
        }

        public GgufValueType elementType() {
            return elementType;
        }

        public int length() {
            return length;
        }
    }

    // ---- metadata ------------------------------------------------------------------------------

    public GgufWriter putU8(String key, int value) {
        return putInteger(key, GgufValueType.UINT8, value, 0, 0xFF);
    }

    public GgufWriter putI8(String key, int value) {
        return putInteger(key, GgufValueType.INT8, value, Byte.MIN_VALUE, Byte.MAX_VALUE);
    }

    public GgufWriter putU16(String key, int value) {
        return putInteger(key, GgufValueType.UINT16, value, 0, 0xFFFF);
    }

    public GgufWriter putI16(String key, int value) {
        return putInteger(key, GgufValueType.INT16, value, Short.MIN_VALUE, Short.MAX_VALUE);
    }

    public GgufWriter putU32(String key, long value) {
        return putInteger(key, GgufValueType.UINT32, value, 0, 0xFFFF_FFFFL);
    }

    public GgufWriter putI32(String key, int value) {
        return putInteger(key, GgufValueType.INT32, value, Integer.MIN_VALUE, Integer.MAX_VALUE);
    }

    /** {@code value} is read as unsigned: -1 is 2^64-1. */
    public GgufWriter putU64(String key, long value) {
        return put(key, new Value(GgufValueType.UINT64, value, null));
    }

    public GgufWriter putI64(String key, long value) {
        return put(key, new Value(GgufValueType.INT64, value, null));
    }

    public GgufWriter putF32(String key, float value) {
        return put(key, new Value(GgufValueType.FLOAT32, (double) value, null));
    }

    public GgufWriter putF64(String key, double value) {
        return put(key, new Value(GgufValueType.FLOAT64, value, null));
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, new Value(GgufValueType.BOOL, value, null));
    }

    public GgufWriter putString(String key, String value) {
        if (value == null) {
            throw new IllegalArgumentException("metadata " + key + ": null string");
        }
        return put(key, new Value(GgufValueType.STRING, value, null));
    }

    public GgufWriter putArray(String key, GgufValueType elementType, Object values) {
        return put(key, new Value(GgufValueType.ARRAY, null, new ArrayValue(elementType, values)));
    }

    public GgufWriter putStrings(String key, String[] values) {
        return putArray(key, GgufValueType.STRING, values);
    }

    public GgufWriter putF32s(String key, float[] values) {
        return putArray(key, GgufValueType.FLOAT32, values);
    }

    public GgufWriter putI32s(String key, int[] values) {
        return putArray(key, GgufValueType.INT32, values);
    }

    /** Metadata keys in the order they will be written. */
    public List<String> keys() {
        return List.copyOf(metadata.keySet());
    }

    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    private GgufWriter putInteger(String key, GgufValueType type, long value, long min, long max) {
        if (value < min || value > max) {
            throw new IllegalArgumentException("metadata " + key + ": " + value + " does not fit " + type);
        }
        return put(key, new Value(type, value, null));
    }

    private GgufWriter put(String key, Value value) {
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("metadata key must not be empty");
        }
        if (key.equals("general.alignment")) {
            throw new IllegalArgumentException("set the alignment through the GgufWriter constructor");
        }
        // Replacing keeps the key's first position, so callers may overwrite defaults.
        metadata.put(key, value);
        return this;
    }

    // ---- tensors -------------------------------------------------------------------------------

    /**
     * Plans a tensor. {@code dims} is in ggml order: a weight matrix with {@code rows} outputs and
     * {@code cols} inputs is {@code addTensor(name, type, cols, rows)}.
     */
    public TensorSpec addTensor(String name, GgmlType type, long... dims) {
        if (name == null || name.isEmpty() || name.getBytes(StandardCharsets.UTF_8).length > MAX_TENSOR_NAME_BYTES) {
            throw new IllegalArgumentException("tensor name must have 1.." + MAX_TENSOR_NAME_BYTES + " bytes: " + name);
        }
        if (tensorsByName.containsKey(name)) {
            throw new IllegalArgumentException("duplicate tensor " + name);
        }
        if (dims.length < 1 || dims.length > 4) {
            throw new IllegalArgumentException("tensor " + name + " must have 1..4 dimensions, got " + dims.length);
        }
        long elements = 1;
        for (long d : dims) {
            if (d <= 0) {
                throw new IllegalArgumentException("tensor " + name + " has dimension " + d);
            }
            elements = Math.multiplyExact(elements, d);
        }
        if (dims[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor " + name + ": " + type + " needs rows of a multiple of "
                    + type.blockSize() + " elements, got " + dims[0]);
        }
        TensorSpec spec = new TensorSpec(name, type, dims, dataBytes, type.bytesFor(elements));
        dataBytes = GgufFile.alignUp(dataBytes + spec.sizeBytes(), alignmentBytes);
        tensors.add(spec);
        tensorsByName.put(name, spec);
        return spec;
    }

    public List<TensorSpec> tensors() {
        return Collections.unmodifiableList(tensors);
    }

    public TensorSpec tensor(String name) {
        return tensorsByName.get(name);
    }

    /** Size of the file {@link #write} will produce. */
    public long fileBytes() {
        return GgufFile.alignUp(header().length, alignmentBytes) + dataBytes;
    }

    // ---- writing -------------------------------------------------------------------------------

    public void write(Path out, TensorData data) {
        write(out, data, null);
    }

    /**
     * Writes the file. {@code data} is called once per tensor, in the order they were added, and
     * must write exactly the tensor's bytes. I/O failures become a {@link TandemException} naming
     * {@code out}; nothing is left behind.
     */
    public void write(Path out, TensorData data, Progress progress) {
        if (written) {
            throw new IllegalStateException("GgufWriter.write may be called once");
        }
        written = true;
        byte[] header = header();
        long headerBytes = GgufFile.alignUp(header.length, alignmentBytes);
        long totalBytes = headerBytes + dataBytes;
        Path absolute = out.toAbsolutePath();
        Path temp = absolute.resolveSibling(absolute.getFileName() + ".partial-" + ProcessHandle.current().pid()
                + "-" + Long.toHexString(System.nanoTime()));
        try {
            Files.createDirectories(absolute.getParent());
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                TensorSink sink = new TensorSink(channel, STAGING_BYTES, progress, totalBytes);
                sink.writeRaw(header);
                sink.zeros((int) (headerBytes - header.length));
                for (TensorSpec t : tensors) {
                    sink.beginTensor(t.sizeBytes());
                    data.write(t, sink);
                    if (sink.remainingBytes() != 0) {
                        throw new IllegalStateException("tensor " + t.name() + ": " + sink.remainingBytes()
                                + " of " + t.sizeBytes() + " bytes were not written");
                    }
                    sink.zeros((int) (GgufFile.alignUp(t.sizeBytes(), alignmentBytes) - t.sizeBytes()));
                }
                sink.flush();
                if (channel.size() != totalBytes) {
                    throw new IllegalStateException("wrote " + channel.size() + " bytes, planned " + totalBytes);
                }
            }
            Files.move(temp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            deleteQuietly(temp, e);
            throw new TandemException("cannot write " + out + ": " + e, e);
        } catch (RuntimeException | Error e) {
            deleteQuietly(temp, e);
            throw e;
        }
    }

    private static void deleteQuietly(Path temp, Throwable failure) {
        try {
            Files.deleteIfExists(temp);
        } catch (IOException e) {
            failure.addSuppressed(e);
        }
    }

    private byte[] header() {
        Header h = new Header();
        h.u32(GgufFile.MAGIC);
        h.u32(VERSION);
        h.u64(tensors.size());
        h.u64(metadata.size());
        for (Map.Entry<String, Value> e : metadata.entrySet()) {
            h.string(e.getKey());
            Value v = e.getValue();
            h.u32(v.type().id());
            if (v.type() == GgufValueType.ARRAY) {
                h.array(v.array());
            } else {
                h.scalar(v.type(), v.scalar());
            }
        }
        for (TensorSpec t : tensors) {
            h.string(t.name());
            long[] dims = t.dims();
            h.u32(dims.length);
            for (long d : dims) {
                h.u64(d);
            }
            h.u32(t.type().id());
            h.u64(t.offsetBytes());
        }
        return h.toByteArray();
    }

    /** Checks that {@code values} suits {@code elementType}; returns its length. */
    private static int checkArray(GgufValueType elementType, Object values) {
        int length = switch (elementType) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> switch (values) {
                case long[] a -> a.length;
                case int[] a -> a.length;
                case null, default -> -1;
            };
            case FLOAT32, FLOAT64 -> switch (values) {
                case float[] a -> a.length;
                case double[] a -> a.length;
                case null, default -> -1;
            };
            case BOOL -> values instanceof boolean[] a ? a.length : -1;
            case STRING -> values instanceof String[] a ? a.length : -1;
            case ARRAY -> values instanceof List<?> l && l.stream().allMatch(ArrayValue.class::isInstance) ? l.size() : -1;
        };
        if (length < 0) {
            throw new IllegalArgumentException("a GGUF " + elementType + " array cannot hold "
                    + (values == null ? "null" : values.getClass().getSimpleName()));
        }
        return length;
    }

    /** Little-endian serialisation of the header. */
    private static final class Header extends ByteArrayOutputStream {
        Header() {
            super(1 << 16);
        }

        void u8(long v) {
            write((int) v);
        }

        void u16(long v) {
            u8(v);
            u8(v >>> 8);
        }

        void u32(long v) {
            u16(v);
            u16(v >>> 16);
        }

        void u64(long v) {
            u32(v);
            u32(v >>> 32);
        }

        void string(String s) {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            u64(bytes.length);
            write(bytes, 0, bytes.length);
        }

        void scalar(GgufValueType type, Object v) {
            switch (type) {
                case UINT8, INT8 -> u8((Long) v);
                case UINT16, INT16 -> u16((Long) v);
                case UINT32, INT32 -> u32((Long) v);
                case UINT64, INT64 -> u64((Long) v);
                case FLOAT32 -> u32(Float.floatToRawIntBits(((Double) v).floatValue()));
                case FLOAT64 -> u64(Double.doubleToRawLongBits((Double) v));
                case BOOL -> u8((Boolean) v ? 1 : 0);
                case STRING -> string((String) v);
                case ARRAY -> throw new IllegalArgumentException("array passed as a scalar");
            }
        }

        void array(ArrayValue a) {
            GgufValueType type = a.elementType;
            u32(type.id());
            u64(a.length);
            switch (a.values) {
                case long[] values -> {
                    for (long v : values) {
                        integer(type, v);
                    }
                }
                case int[] values -> {
                    for (int v : values) {
                        integer(type, v);
                    }
                }
                case float[] values -> {
                    for (float v : values) {
                        real(type, v);
                    }
                }
                case double[] values -> {
                    for (double v : values) {
                        real(type, v);
                    }
                }
                case boolean[] values -> {
                    for (boolean v : values) {
                        u8(v ? 1 : 0);
                    }
                }
                case String[] values -> {
                    for (String v : values) {
                        if (v == null) {
                            throw new IllegalArgumentException("null string in a GGUF array");
                        }
                        string(v);
                    }
                }
                case List<?> values -> {
                    for (Object v : values) {
                        array((ArrayValue) v);
                    }
                }
                default -> throw new IllegalStateException("unchecked array " + a.values.getClass());
            }
        }

        private void integer(GgufValueType type, long v) {
            switch (type.sizeBytes()) {
                case 1 -> u8(v);
                case 2 -> u16(v);
                case 4 -> u32(v);
                default -> u64(v);
            }
        }

        private void real(GgufValueType type, double v) {
            if (type == GgufValueType.FLOAT32) {
                u32(Float.floatToRawIntBits((float) v));
            } else {
                u64(Double.doubleToRawLongBits(v));
            }
        }
    }
}
