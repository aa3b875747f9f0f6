package dev.tandem.engine.ops;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The decoders against blocks encoded here from known values, following ggml's block layouts
 * (the encoder is written in the packing direction, independently of the decoders).
 */
class BlockLayoutTest {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static float[] decode(GgmlType type, MemorySegment seg, int cols, boolean vector) {
        WeightMatrix m = WeightMatrix.of(type, seg, 1, cols);
        float[] out = new float[cols];
        if (vector) {
            m.dequantizeVector(0, 0, cols, out, 0);
        } else {
            m.dequantizeScalar(0, 0, cols, out, 0);
        }
        return out;
    }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {false, true})
    void q8_0_knownBlock_decodesToScaleTimesQuant(boolean vector) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(34 * 2);
            float[] expected = new float[64];
            for (int b = 0; b < 2; b++) {
                float d = b == 0 ? 0.5f : -0.125f;
                seg.set(I16, b * 34, Float.floatToFloat16(d));
                for (int i = 0; i < 32; i++) {
                    byte q = (byte) (i * 9 - 128 + b);
                    seg.set(ValueLayout.JAVA_BYTE, b * 34 + 2 + i, q);
                    expected[b * 32 + i] = d * q;
                }
            }
            assertThat(decode(GgmlType.Q8_0, seg, 64, vector)).containsExactly(expected);
        }
    }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {false, true})
    void q4_0_knownBlock_lowNibblesFirstHalf(boolean vector) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(18);
            float d = 0.25f;
            seg.set(I16, 0, Float.floatToFloat16(d));
            int[] n = new int[32];
            for (int i = 0; i < 32; i++) {
                n[i] = (i * 7 + 3) % 16;
            }
            float[] expected = new float[32];
            for (int j = 0; j < 16; j++) {
                seg.set(ValueLayout.JAVA_BYTE, 2 + j, (byte) (n[j] | n[j + 16] << 4));
            }
            for (int i = 0; i < 32; i++) {
                expected[i] = d * (n[i] - 8);
            }
            assertThat(decode(GgmlType.Q4_0, seg, 32, vector)).containsExactly(expected);
        }
    }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {false, true})
    void q4_K_knownBlock_sixBitScalesAndMins(boolean vector) {
        SplittableRandom rnd = new SplittableRandom(7);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(144);
            float d = 0.5f;
            float dmin = 0.25f;
            seg.set(I16, 0, Float.floatToFloat16(d));
            seg.set(I16, 2, Float.floatToFloat16(dmin));
            int[] sc = new int[8];
            int[] mn = new int[8];
            for (int j = 0; j < 8; j++) {
                sc[j] = rnd.nextInt(64);
                mn[j] = rnd.nextInt(64);
            }
            int[] s = new int[12];
            for (int j = 0; j < 4; j++) {
                s[j] = sc[j] | (sc[j + 4] >> 4) << 6;
                s[j + 4] = mn[j] | (mn[j + 4] >> 4) << 6;
                s[j + 8] = (sc[j + 4] & 15) | (mn[j + 4] & 15) << 4;
            }
            for (int i = 0; i < 12; i++) {
                seg.set(ValueLayout.JAVA_BYTE, 4 + i, (byte) s[i]);
            }
            int[] q = new int[256];
            for (int e = 0; e < 256; e++) {
                q[e] = rnd.nextInt(16);
            }
            for (int c = 0; c < 4; c++) {
                for (int l = 0; l < 32; l++) {
                    seg.set(ValueLayout.JAVA_BYTE, 16 + 32 * c + l, (byte) (q[64 * c + l] | q[64 * c + 32 + l] << 4));
                }
            }
            float[] expected = new float[256];
            for (int e = 0; e < 256; e++) {
                int sub = e / 32;
                expected[e] = Math.fma(q[e], d * sc[sub], -(dmin * mn[sub]));
            }
            assertThat(decode(GgmlType.Q4_K, seg, 256, vector)).containsExactly(expected);
        }
    }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {false, true})
    void q4_K_quantizerOutput_decodesAsTheFormatSays(boolean vector) {
        SplittableRandom rnd = new SplittableRandom(3);
        float[] x = new float[512];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (rnd.nextGaussian() * (i < 256 ? 0.02 : 3));
        }
        byte[] bytes = new byte[(int) GgmlType.Q4_K.bytesFor(512)];
        dev.tandem.engine.gguf.Quantizer.quantize(GgmlType.Q4_K, x, 0, 512, bytes, 0);
        float[] expected = new float[512];
        dev.tandem.engine.gguf.Quantizer.dequantize(GgmlType.Q4_K, MemorySegment.ofArray(bytes), 0, expected, 0, 512);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(bytes.length);
            seg.copyFrom(MemorySegment.ofArray(bytes));
            assertThat(decode(GgmlType.Q4_K, seg, 512, vector)).containsExactly(expected);
        }
    }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {false, true})
    void q6_K_knownBlock_scalePerSixteenElements(boolean vector) {
        SplittableRandom rnd = new SplittableRandom(11);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(210);
            float d = 0.125f;
            seg.set(I16, 208, Float.floatToFloat16(d));
            byte[] scales = new byte[16];
            for (int i = 0; i < 16; i++) {
                scales[i] = (byte) (rnd.nextInt(256) - 128);
                seg.set(ValueLayout.JAVA_BYTE, 192 + i, scales[i]);
            }
            int[] q = new int[256];
            byte[] ql = new byte[128];
            byte[] qh = new byte[64];
            for (int e = 0; e < 256; e++) {
                q[e] = rnd.nextInt(64);
                int h = e / 128;
                int k = (e % 128) / 32;
                int l = e % 32;
                int qlIndex = 64 * h + l + 32 * (k & 1);
                ql[qlIndex] |= (byte) (k < 2 ? q[e] & 15 : (q[e] & 15) << 4);
                qh[32 * h + l] |= (byte) ((q[e] >> 4) << (2 * k));
            }
            MemorySegment.copy(ql, 0, seg, ValueLayout.JAVA_BYTE, 0, 128);
            MemorySegment.copy(qh, 0, seg, ValueLayout.JAVA_BYTE, 128, 64);
            float[] expected = new float[256];
            for (int e = 0; e < 256; e++) {
                expected[e] = d * scales[e / 16] * (q[e] - 32);
            }
            assertThat(decode(GgmlType.Q6_K, seg, 256, vector)).containsExactly(expected);
        }
    }

    @ParameterizedTest(name = "vector={0}")
    @ValueSource(booleans = {false, true})
    void f16AndBf16_knownValues_decodeExactly(boolean vector) {
        float[] values = {0f, -0f, 1f, -2.5f, 65504f, 6.1035156e-5f, 5.9604645e-8f, -3.0517578e-5f, 0.33325195f,
            1024f, -0.0009765625f};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment half = arena.allocate(values.length * 2L);
            MemorySegment bf = arena.allocate(values.length * 2L);
            float[] expectedBf = new float[values.length];
            for (int i = 0; i < values.length; i++) {
                half.set(I16, 2L * i, Float.floatToFloat16(values[i]));
                int bits = Float.floatToIntBits(values[i]) & 0xffff0000;
                bf.set(I16, 2L * i, (short) (bits >>> 16));
                expectedBf[i] = Float.intBitsToFloat(bits);
            }
            assertThat(decode(GgmlType.F16, half, values.length, vector)).containsExactly(values);
            assertThat(decode(GgmlType.BF16, bf, values.length, vector)).containsExactly(expectedBf);
        }
    }
}
