package dev.tandem.engine.tokenizer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes metadata-only GGUF v3 files for tests (no tensors). */
final class GgufWriter {
    private final Map<String, Object> metadata = new LinkedHashMap<>();

    GgufWriter put(String key, Object value) {
        metadata.put(key, value);
        return this;
    }

    Path write(Path file) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        u32(out, 0x46554747);
        u32(out, 3);
        u64(out, 0);
        u64(out, metadata.size());
        for (Map.Entry<String, Object> e : metadata.entrySet()) {
            string(out, e.getKey());
            value(out, e.getValue());
        }
        try {
            Files.write(file, out.toByteArray());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    private static void value(ByteArrayOutputStream out, Object v) {
        switch (v) {
            case String s -> {
                u32(out, 8);
                string(out, s);
            }
            case Boolean b -> {
                u32(out, 7);
                out.write(b ? 1 : 0);
            }
            case Integer i -> {
                u32(out, 4); // u32
                u32(out, i);
            }
            case Float f -> {
                u32(out, 6);
                u32(out, Float.floatToIntBits(f));
            }
            case String[] a -> {
                u32(out, 9);
                u32(out, 8);
                u64(out, a.length);
                for (String s : a) {
                    string(out, s);
                }
            }
            case int[] a -> {
                u32(out, 9);
                u32(out, 5); // i32
                u64(out, a.length);
                for (int x : a) {
                    u32(out, x);
                }
            }
            case float[] a -> {
                u32(out, 9);
                u32(out, 6);
                u64(out, a.length);
                for (float x : a) {
                    u32(out, Float.floatToIntBits(x));
                }
            }
            default -> throw new IllegalArgumentException("unsupported value " + v);
        }
    }

    private static void string(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u64(out, b.length);
        out.writeBytes(b);
    }

    private static void u32(ByteArrayOutputStream out, int v) {
        out.writeBytes(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array());
    }

    private static void u64(ByteArrayOutputStream out, long v) {
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
    }
}
