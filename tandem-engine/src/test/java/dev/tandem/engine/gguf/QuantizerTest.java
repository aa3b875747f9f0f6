package dev.tandem.engine.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class QuantizerTest {
    private static final int N = 256;

    /** The inputs of src/test/c/ggml_quant_golden.c, which printed llama.cpp's encodings of them. */
    static float[] goldenInput() {
        float[] x = new float[N];
        int s = 12345;
        for (int i = 0; i < N; i++) {
            s = s * 1664525 + 1013904223;
            x[i] = ((s >>> 8) - (1 << 23)) * (1.0f / (1 << 23));
        }
        for (int i = 32; i < 64; i++) {
            x[i] = 0f;
        }
        for (int i = 64; i < 96; i++) {
            x[i] = (i - 80) + 0.5f;
        }
        x[95] = -127f;
        for (int i = 96; i < 128; i++) {
            x[i] = (i - 112) * 0.25f;
        }
        x[100] = 7f;
        for (int i = 128; i < 160; i++) {
            x[i] *= 1e-6f;
        }
        for (int i = 160; i < 192; i++) {
            x[i] *= 1e7f;
        }
        x[200] = -0.75f;
        x[201] = -0.75f;
        x[202] = 0.75f;
        return x;
    }

    /** The Q6_K inputs of ggml_quant_golden.c: four super-blocks (noise, zeros but one, an outlier, a tiny group). */
    static float[] goldenInputQ6K() {
        float[] x = new float[1024];
        int s = 777;
        for (int i = 0; i < x.length; i++) {
            s = s * 1664525 + 1013904223;
            x[i] = ((s >>> 8) - (1 << 23)) * (1.0f / (1 << 23)) * 0.02f;
        }
        for (int i = 256; i < 512; i++) {
            x[i] = 0f;
        }
        x[300] = 0.5f;
        x[600] = -3.0f;
        for (int i = 768; i < 784; i++) {
            x[i] = 1e-20f;
        }
        return x;
    }

    @Test
    void quantizeQ6_K_goldenInput_matchesLlamaCppBytes() throws IOException {
        byte[] actual = encode(GgmlType.Q6_K, goldenInputQ6K());
        assertThat(HexFormat.of().formatHex(actual)).isEqualTo(HexFormat.of().formatHex(golden().get("q6_k")));
    }

    @Test
    void nearestInt_roundsHalfToEven() {
        assertThat(BlockQ6_K.nearestInt(2.5f)).isEqualTo(2);
        assertThat(BlockQ6_K.nearestInt(3.5f)).isEqualTo(4);
        assertThat(BlockQ6_K.nearestInt(-2.5f)).isEqualTo(-2);
        assertThat(BlockQ6_K.nearestInt(-31.7f)).isEqualTo(-32);
    }

    static Map<String, byte[]> golden() throws IOException {
        Map<String, byte[]> out = new HashMap<>();
        try (InputStream in = QuantizerTest.class.getResourceAsStream("ggml-quant-golden.txt")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.US_ASCII).split("\n")) {
                String[] parts = line.trim().split(" ");
                out.put(parts[0], HexFormat.of().parseHex(parts[1]));
            }
        }
        return out;
    }

    private static byte[] encode(GgmlType type, float[] x) {
        byte[] out = new byte[(int) type.bytesFor(x.length)];
        Quantizer.quantize(type, x, 0, x.length, out, 0);
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"Q8_0", "Q4_0", "F16", "BF16"})
    void quantize_goldenInput_matchesLlamaCppBytes(String typeName) throws IOException {
        GgmlType type = GgmlType.valueOf(typeName);
        byte[] expected = golden().get(typeName.toLowerCase());
        byte[] actual = encode(type, goldenInput());
        assertThat(HexFormat.of().formatHex(actual)).isEqualTo(HexFormat.of().formatHex(expected));
    }

    @Test
    void quantizeQ8_0_tiesRoundAwayFromZero() {
        float[] x = new float[32];
        x[0] = 127f;       // d = 1, id = 1
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = 0.49999997f;
        byte[] q = encode(GgmlType.Q8_0, x);
        assertThat(q[BlockQ8_0.QS_OFFSET + 1]).isEqualTo((byte) 3);
        assertThat(q[BlockQ8_0.QS_OFFSET + 2]).isEqualTo((byte) -3);
        assertThat(q[BlockQ8_0.QS_OFFSET + 3]).isEqualTo((byte) 0);
    }

    @Test
    void quantizeQ4_0_signedMaxMapsToZeroNibble() {
        float[] x = new float[32];
        x[5] = 4f;
        x[20] = -1f;
        byte[] q = encode(GgmlType.Q4_0, x);
        float[] back = new float[32];
        Quantizer.dequantize(GgmlType.Q4_0, MemorySegment.ofArray(q), 0, back, 0, 32);
        // d = 4 / -8 = -0.5: the max is q = 0 (-8 * d = 4), zeros are q = 8, -1 is q = 10.
        assertThat(q[BlockQ4_0.QS_OFFSET + 5] & 0x0F).isZero();
        assertThat((q[BlockQ4_0.QS_OFFSET + 4] >>> 4) & 0x0F).isEqualTo(10);
        assertThat(back[5]).isEqualTo(4f);
        assertThat(back[20]).isEqualTo(-1f);
        assertThat(back[0]).isZero();
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 42, 1234567})
    void roundTrip_randomRows_errorWithinFormatBound(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int n = 256 * (1 + random.nextInt(5));
        float[] x = new float[n];
        double scale = Math.pow(10, random.nextInt(-4, 3));
        for (int i = 0; i < n; i++) {
            x[i] = (float) (random.nextGaussian() * scale);
        }
        for (GgmlType type : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
                GgmlType.Q4_K, GgmlType.Q6_K}) {
            float[] back = new float[n];
            Quantizer.dequantize(type, MemorySegment.ofArray(encode(type, x)), 0, back, 0, n);
            int block = type.blockSize() == 256 ? 256 : 32;
            for (int b = 0; b < n / block; b++) {
                float amax = 0;
                for (int j = 0; j < block; j++) {
                    amax = Math.max(amax, Math.abs(x[b * block + j]));
                }
                for (int j = 0; j < block; j++) {
                    int i = b * block + j;
                    double bound = switch (type) {
                        case F32 -> 0;
                        case F16 -> Math.abs(x[i]) * 0x1p-11 + 0x1p-25;
                        case BF16 -> Math.abs(x[i]) * 0x1p-8;
                        // Half a step of amax/127, plus the f16 rounding of the scale (relative 2^-11,
                        // absolute 2^-25 among subnormals) times the largest quant, 127.
                        case Q8_0 -> amax / 254 * 1.0001 + amax * 0x1p-11 + 127 * 0x1p-25;
                        // A full step of amax/8 at the far end of the range, plus the scale's rounding times 8.
                        case Q4_0 -> amax / 8 * 1.0001 + amax * 0x1p-11 + 8 * 0x1p-25;
                        // Six bits per element against a group scale of at most amax/32: half a step, with
                        // slack for the int8 group scales and the clamp at 31; plus the f16 super-block
                        // scale's absolute rounding (2^-25 among subnormals) times 128 x 32.
                        case Q6_K -> amax / 32 * 1.05 + 0x1p-25 * 128 * 32;
                        // Half a step of a sub-block's scale (at most 2 amax / 15), plus the 6-bit rounding of
                        // scale and min against their largest (d / 2 at up to 15 quants, dmin / 2), plus f16 slack.
                        case Q4_K -> amax / 15 * 1.01 + amax / 63 + amax / 126 + 0x1p-25 * 64 * 16;
                        default -> throw new AssertionError(type);
                    };
                    assertThat((double) Math.abs(back[i] - x[i]))
                            .as("seed=%d type=%s i=%d x=%s", seed, type, i, x[i]).isLessThanOrEqualTo(bound);
                }
            }
        }
    }

    @Test
    void floatBits_nanAndInfinity_followGgml() {
        float nan = Float.intBitsToFloat(0xFFC1_2345);
        assertThat(FloatBits.toF16(nan)).isEqualTo((short) 0xFE00);
        assertThat(FloatBits.toBf16(nan)).isEqualTo((short) 0xFFC1);
        assertThat(FloatBits.toBf16(Float.intBitsToFloat(0x7F80_0001))).isEqualTo((short) 0x7FC0);
        assertThat(FloatBits.toF16(1e6f)).isEqualTo((short) 0x7C00);
        assertThat(FloatBits.toBf16(Float.POSITIVE_INFINITY)).isEqualTo((short) 0x7F80);
        assertThat(FloatBits.fromBf16((short) 0x3F80)).isEqualTo(1f);
        assertThat(FloatBits.fromF16((short) 0x3C00)).isEqualTo(1f);
    }

    @Test
    void quantize_countNotMultipleOfBlock_throws() {
        assertThatThrownBy(() -> Quantizer.quantize(GgmlType.Q8_0, new float[40], 0, 40, new byte[100], 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiples of 32");
        assertThat(Quantizer.supports(GgmlType.Q5_K)).isFalse();
    }
}
