package dev.tandem.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ModelFormatException;
import dev.tandem.core.TandemException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GgufWriterTest {
    @TempDir
    Path dir;

    @Test
    void write_everyMetadataType_roundTripsThroughGgufFile() {
        GgufWriter w = new GgufWriter();
        w.putU8("t.u8", 255).putI8("t.i8", -128).putU16("t.u16", 65535).putI16("t.i16", -32768)
                .putU32("t.u32", 0xFFFF_FFFFL).putI32("t.i32", Integer.MIN_VALUE).putF32("t.f32", 1.5f)
                .putBool("t.bool", true).putString("t.string", "héllo ▁ 世界").putU64("t.u64", Long.MAX_VALUE)
                .putI64("t.i64", Long.MIN_VALUE).putF64("t.f64", Math.PI)
                .putStrings("t.strings", new String[] {"a", "", "<0x0A>"})
                .putF32s("t.f32s", new float[] {0.25f, -1f})
                .putI32s("t.i32s", new int[] {1, -2, 3})
                .putArray("t.u8s", GgufValueType.UINT8, new int[] {0, 200})
                .putArray("t.i64s", GgufValueType.INT64, new long[] {-5, 1L << 40})
                .putArray("t.f64s", GgufValueType.FLOAT64, new double[] {Math.E})
                .putArray("t.bools", GgufValueType.BOOL, new boolean[] {true, false})
                .putArray("t.nested", GgufValueType.ARRAY, List.of(
                        new GgufWriter.ArrayValue(GgufValueType.INT32, new int[] {7}),
                        new GgufWriter.ArrayValue(GgufValueType.STRING, new String[] {"x", "y"})));
        Path file = dir.resolve("meta.gguf");
        w.write(file, (t, sink) -> { });
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.version()).isEqualTo(3);
            assertThat(g.metadata().keySet()).containsExactlyElementsOf(w.keys());
            assertThat(g.integer("t.u8")).isEqualTo(255);
            assertThat(g.integer("t.i8")).isEqualTo(-128);
            assertThat(g.integer("t.u16")).isEqualTo(65535);
            assertThat(g.integer("t.i16")).isEqualTo(-32768);
            assertThat(g.integer("t.u32")).isEqualTo(0xFFFF_FFFFL);
            assertThat(g.integer("t.i32")).isEqualTo(Integer.MIN_VALUE);
            assertThat(g.real("t.f32", 0)).isEqualTo(1.5);
            assertThat(g.bool("t.bool", false)).isTrue();
            assertThat(g.string("t.string")).isEqualTo("héllo ▁ 世界");
            assertThat(g.integer("t.u64")).isEqualTo(Long.MAX_VALUE);
            assertThat(g.integer("t.i64")).isEqualTo(Long.MIN_VALUE);
            assertThat(g.real("t.f64", 0)).isEqualTo(Math.PI);
            assertThat(g.strings("t.strings")).containsExactly("a", "", "<0x0A>");
            assertThat(g.reals("t.f32s")).containsExactly(0.25, -1.0);
            assertThat(g.integers("t.i32s")).containsExactly(1, -2, 3);
            assertThat(g.integers("t.u8s")).containsExactly(0, 200);
            assertThat(g.integers("t.i64s")).containsExactly(-5, 1L << 40);
            assertThat(g.reals("t.f64s")).containsExactly(Math.E);
            assertThat((boolean[]) g.metadata().get("t.bools")).containsExactly(true, false);
            List<?> nested = (List<?>) g.metadata().get("t.nested");
            assertThat((long[]) nested.get(0)).containsExactly(7);
            assertThat((String[]) nested.get(1)).containsExactly("x", "y");
            assertThat(g.tensors()).isEmpty();
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {32, 64, 4096})
    void write_tensorsOfEveryType_readBackAlignedAndEqual(int alignment) throws IOException {
        SplittableRandom random = new SplittableRandom(alignment);
        GgmlType[] types = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0};
        float[][] values = new float[types.length][];
        GgufWriter w = new GgufWriter(alignment);
        w.putString("general.architecture", "llama");
        for (int i = 0; i < types.length; i++) {
            int cols = types[i].blockSize() == 1 ? 3 + i : 64;
            int rows = 1 + random.nextInt(5);
            values[i] = new float[cols * rows];
            for (int j = 0; j < values[i].length; j++) {
                values[i][j] = (float) random.nextGaussian();
            }
            w.addTensor("t" + i, types[i], cols, rows);
        }
        Path file = dir.resolve("t.gguf");
        w.write(file, (t, sink) -> {
            int i = Integer.parseInt(t.name().substring(1));
            byte[] bytes = new byte[(int) t.sizeBytes()];
            Quantizer.quantize(t.type(), values[i], 0, values[i].length, bytes, 0);
            // Write in odd pieces to exercise the staging buffer.
            int done = 0;
            while (done < bytes.length) {
                int n = Math.min(bytes.length - done, 1 + random.nextInt(37));
                sink.write(bytes, done, n);
                done += n;
            }
        });
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.fileBytes()).isEqualTo(w.fileBytes()).isEqualTo(Files.size(file));
            assertThat(g.dataOffset() % alignment).isZero();
            assertThat(g.fileBytes() % alignment).isZero();
            if (alignment != 32) {
                assertThat(g.integer("general.alignment")).isEqualTo(alignment);
            }
            for (int i = 0; i < types.length; i++) {
                GgufTensor t = g.tensor("t" + i);
                assertThat(t.type()).isEqualTo(types[i]);
                assertThat(t.offset() % alignment).isZero();
                assertThat(t.dims()).isEqualTo(w.tensor("t" + i).dims());
                float[] expected = new float[values[i].length];
                byte[] bytes = new byte[(int) t.data().byteSize()];
                Quantizer.quantize(types[i], values[i], 0, values[i].length, bytes, 0);
                Quantizer.dequantize(types[i], MemorySegment.ofArray(bytes), 0, expected, 0, expected.length);
                assertThat(Quantizer.dequantize(t)).containsExactly(expected);
            }
            assertThat(g.tensor("t0").data().getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, 0)).isEqualTo(values[0][0]);
        }
    }

    @Test
    void write_dataShortOfTensorSize_failsAndLeavesNothing() throws IOException {
        GgufWriter w = new GgufWriter();
        w.addTensor("a", GgmlType.F32, 8);
        Path file = dir.resolve("short.gguf");
        assertThatThrownBy(() -> w.write(file, (t, sink) -> sink.write(new byte[16], 0, 16)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("tensor a: 16 of 32 bytes");
        assertThat(listDir()).isEmpty();
    }

    @Test
    void write_dataOverflowingTensor_fails() {
        GgufWriter w = new GgufWriter();
        w.addTensor("a", GgmlType.F32, 2);
        assertThatThrownBy(() -> w.write(dir.resolve("long.gguf"), (t, sink) -> sink.write(new byte[12], 0, 12)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("overflow");
    }

    @Test
    void write_producerFails_keepsPreviousFileAndRemovesPartial() throws IOException {
        Path file = dir.resolve("m.gguf");
        Files.writeString(file, "previous");
        GgufWriter w = new GgufWriter();
        w.addTensor("a", GgmlType.F32, 4);
        assertThatThrownBy(() -> w.write(file, (t, sink) -> {
            throw new IOException("disk on fire");
        })).isInstanceOf(TandemException.class).hasMessageContaining("disk on fire").hasMessageContaining("m.gguf");
        assertThat(Files.readString(file)).isEqualTo("previous");
        assertThat(listDir()).containsExactly(file);
    }

    @Test
    void addTensor_invalid_rejected() {
        GgufWriter w = new GgufWriter();
        w.addTensor("x", GgmlType.F32, 4);
        assertThatThrownBy(() -> w.addTensor("x", GgmlType.F32, 4)).hasMessageContaining("duplicate tensor x");
        assertThatThrownBy(() -> w.addTensor("q", GgmlType.Q8_0, 48)).hasMessageContaining("multiple of 32");
        assertThatThrownBy(() -> w.addTensor("n".repeat(64), GgmlType.F32, 4)).hasMessageContaining("1..63 bytes");
        assertThatThrownBy(() -> w.addTensor("z", GgmlType.F32, 4, 0)).hasMessageContaining("dimension 0");
        assertThatThrownBy(() -> w.addTensor("f", GgmlType.F32, 1, 1, 1, 1, 1)).hasMessageContaining("1..4 dimensions");
        assertThatThrownBy(() -> w.putU8("k", 256)).hasMessageContaining("does not fit UINT8");
        assertThatThrownBy(() -> w.putArray("k", GgufValueType.STRING, new int[1])).hasMessageContaining("cannot hold int[]");
        assertThatThrownBy(() -> new GgufWriter(48)).hasMessageContaining("power of two");
    }

    @Test
    void open_truncatedWrittenFile_namesTruncation() throws IOException {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.addTensor("a", GgmlType.F32, 1024);
        Path file = dir.resolve("cut.gguf");
        w.write(file, (t, sink) -> sink.write(new byte[4096], 0, 4096));
        byte[] all = Files.readAllBytes(file);
        Files.write(file, java.util.Arrays.copyOf(all, all.length - 100));
        assertThatThrownBy(() -> GgufFile.open(file)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("truncated").hasMessageContaining("tensor a");
        Files.write(file, java.util.Arrays.copyOf(all, 40));
        assertThatThrownBy(() -> GgufFile.open(file)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("truncated");
        Files.writeString(file, "PK\u0003\u0004 this is a zip file, not a model at all");
        assertThatThrownBy(() -> GgufFile.open(file)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("not a GGUF file");
    }

    private List<Path> listDir() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }
}
