package dev.tandem.engine.loader;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Hugging Face safetensors files, memory-mapped: tensor data is never copied.
 *
 * <pre>
 * | headerBytes u64 LE | header: UTF-8 JSON, headerBytes long (may end in spaces) | data ... |
 * header = { "NAME": {"dtype": "F32"|"F16"|"BF16"|..., "shape": [d0, d1, ...],
 *                     "data_offsets": [begin, end]},  ...,  "__metadata__": {...} }
 * </pre>
 * Offsets are relative to the start of the data section; shapes are row-major (PyTorch order:
 * a Linear weight is {@code [out, in]}), elements little-endian. Every entry is checked against
 * the file: a header that lies about sizes or offsets is a {@link ModelFormatException} naming
 * the tensor, not a crash later.
 *
 * <p>Thread ownership: immutable after {@link #open}; safe for concurrent reads. The owner closes
 * it, which unmaps every file.
 */
public final class Safetensors implements AutoCloseable {
    /** A tensor: a view of its bytes in the mapped file. Shape in row-major order. */
    public record Tensor(String name, String dtype, long[] shape, MemorySegment data, Path file) {
        public Tensor {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long elementCount() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Tensor t && name.equals(t.name) && dtype.equals(t.dtype) && Arrays.equals(shape, t.shape)
                    && file.equals(t.file);
        }

        @Override
        public int hashCode() {
            return name.hashCode();
        }

        @Override
        public String toString() {
            return name + " " + dtype + " " + Arrays.toString(shape);
        }
    }

    /** Element sizes of the dtypes safetensors defines. */
    private static final Map<String, Integer> DTYPE_BYTES = Map.ofEntries(
            Map.entry("F64", 8), Map.entry("F32", 4), Map.entry("F16", 2), Map.entry("BF16", 2),
            Map.entry("I64", 8), Map.entry("I32", 4), Map.entry("I16", 2), Map.entry("I8", 1),
            Map.entry("U64", 8), Map.entry("U32", 4), Map.entry("U16", 2), Map.entry("U8", 1),
            Map.entry("BOOL", 1), Map.entry("F8_E4M3", 1), Map.entry("F8_E5M2", 1));
    /** Guard against absurd header lengths (real headers are well under a few MB). */
    private static final long MAX_HEADER_BYTES = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Arena arena;
    private final Map<String, Tensor> tensors;

    private Safetensors(Arena arena, Map<String, Tensor> tensors) {
        this.arena = arena;
        this.tensors = tensors;
    }

    /** Maps and checks every file; tensor names must be unique across them (sharded checkpoints). */
    public static Safetensors open(List<Path> files) {
        Arena arena = Arena.ofShared();
        try {
            Map<String, Tensor> all = new LinkedHashMap<>();
            for (Path file : files) {
                for (Tensor t : parse(file, map(file, arena))) {
                    Tensor previous = all.put(t.name(), t);
                    if (previous != null) {
                        throw new ModelFormatException("tensor " + t.name() + " appears in both " + previous.file()
                                + " and " + file);
                    }
                }
            }
            return new Safetensors(arena, Collections.unmodifiableMap(all));
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static MemorySegment map(Path file, Arena arena) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException("safetensors file not found: " + file);
        } catch (IOException e) {
            throw new ModelFormatException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static List<Tensor> parse(Path file, MemorySegment seg) {
        long size = seg.byteSize();
        if (size < 8) {
            throw new ModelFormatException(file + " is not a safetensors file (only " + size + " bytes)");
        }
        long headerBytes = seg.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerBytes < 2 || headerBytes > MAX_HEADER_BYTES || headerBytes > size - 8) {
            throw new ModelFormatException(file + " is not a safetensors file or is truncated: header length "
                    + headerBytes + " but the file has " + size + " bytes");
        }
        String header = new String(seg.asSlice(8, headerBytes).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        JsonNode root;
        try {
            root = JSON.readTree(header);
        } catch (JacksonException e) {
            throw new ModelFormatException(file + ": safetensors header is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file + ": safetensors header is not a JSON object");
        }
        long dataStart = 8 + headerBytes;
        long dataBytes = size - dataStart;
        List<Tensor> out = new java.util.ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            out.add(entry(file, e.getKey(), e.getValue(), seg, dataStart, dataBytes));
        }
        return out;
    }

    private static Tensor entry(Path file, String name, JsonNode node, MemorySegment seg, long dataStart, long dataBytes) {
        String where = file + ": tensor " + name;
        JsonNode dtypeNode = node.get("dtype");
        JsonNode shapeNode = node.get("shape");
        JsonNode offsets = node.get("data_offsets");
        if (dtypeNode == null || !dtypeNode.isTextual() || shapeNode == null || !shapeNode.isArray()
                || offsets == null || !offsets.isArray() || offsets.size() != 2) {
            throw new ModelFormatException(where + " needs dtype, shape and data_offsets [begin, end]");
        }
        String dtype = dtypeNode.asText();
        Integer elementBytes = DTYPE_BYTES.get(dtype);
        if (elementBytes == null) {
            throw new ModelFormatException(where + " has unknown dtype " + dtype);
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToLong() || d.asLong() < 0) {
                throw new ModelFormatException(where + " has an invalid shape " + shapeNode);
            }
            shape[i] = d.asLong();
            elements = Math.multiplyExact(elements, shape[i]);
        }
        long begin = offsets.get(0).asLong(-1);
        long end = offsets.get(1).asLong(-1);
        if (begin < 0 || end < begin || end > dataBytes) {
            throw new ModelFormatException(where + " has data_offsets [" + offsets.get(0) + ", " + offsets.get(1)
                    + "] outside the " + dataBytes + " data bytes of the file (truncated or a lying header)");
        }
        if (end - begin != elements * elementBytes) {
            throw new ModelFormatException(where + ": shape " + shapeNode + " of " + dtype + " needs "
                    + elements * elementBytes + " bytes but data_offsets cover " + (end - begin));
        }
        return new Tensor(name, dtype, shape, seg.asSlice(dataStart + begin, end - begin), file);
    }

    /** All tensors by name, in file order. */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public Tensor tensorOrNull(String name) {
        return tensors.get(name);
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
