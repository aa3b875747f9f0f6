package dev.tandem.engine.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every vector kernel against its scalar twin on seeded random data at odd sizes and misaligned
 * offsets (run at each vector width by the build's extra surefire execution).
 */
class WeightMatrixTest {
    static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
        GgmlType.Q4_K, GgmlType.Q6_K};

    /** type, seed: sizes and offsets are derived from the seed. */
    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (GgmlType type : TYPES) {
            for (long seed = 1; seed <= 6; seed++) {
                b.add(Arguments.of(type, seed));
            }
        }
        return b.build();
    }

    /** Column counts: odd multiples of the block size, or odd plain sizes for unblocked types. */
    static int cols(GgmlType type, SplittableRandom rnd) {
        return type.blockSize() == 1 ? 1 + rnd.nextInt(300) : type.blockSize() * (1 + 2 * rnd.nextInt(5));
    }

    @ParameterizedTest(name = "{0} seed {1}")
    @MethodSource("cases")
    void dotVector_randomOddShapes_matchesScalarTwin(GgmlType type, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = 1 + rnd.nextInt(9);
        int cols = cols(type, rnd);
        int misalign = rnd.nextInt(8);
        int xOff = rnd.nextInt(7);
        try (Arena arena = Arena.ofConfined()) {
            WeightMatrix m = RandomWeights.matrix(arena, type, rows, cols, misalign, rnd);
            float[] x = RandomWeights.floats(xOff + cols + 3, rnd);
            float[] row = new float[cols];
            for (int r = 0; r < rows; r++) {
                m.dequantizeScalar(r, 0, cols, row, 0);
                double magnitude = 0;
                for (int i = 0; i < cols; i++) {
                    magnitude += Math.abs(row[i] * x[xOff + i]);
                }
                float scalar = m.dotScalar(r, x, xOff);
                float vector = m.dotVector(r, x, xOff);
                assertThat(vector).as("seed %d row %d of %s, cols %d, misalign %d", seed, r, type, cols, misalign)
                        .isCloseTo(scalar, within((float) (1e-5 * magnitude + 1e-6)));
            }
        }
    }

    @ParameterizedTest(name = "{0} seed {1}")
    @MethodSource("cases")
    void dequantizeVector_randomRuns_equalsScalarTwinExactly(GgmlType type, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = 1 + rnd.nextInt(5);
        int cols = cols(type, rnd);
        int misalign = rnd.nextInt(8);
        try (Arena arena = Arena.ofConfined()) {
            WeightMatrix m = RandomWeights.matrix(arena, type, rows, cols, misalign, rnd);
            int block = type.blockSize();
            int blocks = cols / block;
            int first = rnd.nextInt(blocks);
            int count = (1 + rnd.nextInt(blocks - first)) * block;
            int col = first * block;
            int off = rnd.nextInt(5);
            float[] expected = new float[off + count];
            float[] actual = new float[off + count];
            int r = rnd.nextInt(rows);
            m.dequantizeScalar(r, col, count, expected, off);
            m.dequantizeVector(r, col, count, actual, off);
            assertThat(actual).as("seed %d %s row %d cols %d..%d", seed, type, r, col, col + count)
                    .containsExactly(expected);
        }
    }

    @ParameterizedTest(name = "{0} seed {1}")
    @MethodSource("cases")
    void dotScalar_anyRow_equalsDequantisedRowTimesX(GgmlType type, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int cols = cols(type, rnd);
        try (Arena arena = Arena.ofConfined()) {
            WeightMatrix m = RandomWeights.matrix(arena, type, 3, cols, 1, rnd);
            float[] x = RandomWeights.floats(cols, rnd);
            float[] row = new float[cols];
            m.dequantizeScalar(2, 0, cols, row, 0);
            double expected = 0;
            double magnitude = 0;
            for (int i = 0; i < cols; i++) {
                expected += (double) row[i] * x[i];
                magnitude += Math.abs((double) row[i] * x[i]);
            }
            assertThat((double) m.dotScalar(2, x, 0)).isCloseTo(expected, within(1e-5 * magnitude + 1e-6));
        }
    }

    @ParameterizedTest(name = "{0} seed {1}")
    @MethodSource("cases")
    void dotQ8_randomOddShapes_vectorMatchesScalarAndFloatDot(GgmlType type, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = 1 + rnd.nextInt(5);
        int block = Math.max(32, type.blockSize());
        int cols = block * (1 + 2 * rnd.nextInt(block > 32 ? 2 : 6));
        try (Arena arena = Arena.ofConfined()) {
            WeightMatrix m = RandomWeights.matrix(arena, type, rows, cols, rnd.nextInt(8), rnd);
            if (!m.hasQ8Dot()) {
                assertThat(type).isNotIn(GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K);
                return;
            }
            int tokens = 1 + rnd.nextInt(3);
            int t = rnd.nextInt(tokens);
            float[] x = RandomWeights.floats(tokens * cols, rnd);
            Q8Activations q = new Q8Activations();
            q.quantize(x, 0, tokens, cols);
            int qOff = t * cols;
            int sOff = t * cols / 32;
            for (int r = 0; r < rows; r++) {
                float scalar = m.dotQ8Scalar(r, q.q, qOff, q.scales, q.sums, sOff);
                float vector = m.dotQ8Vector(r, q.q, qOff, q.scales, q.sums, sOff);
                assertThat(m.dotQ8(r, q, t)).isIn(scalar, vector);
                float exact = m.dotScalar(r, x, qOff);
                float[] row = new float[cols];
                m.dequantizeScalar(r, 0, cols, row, 0);
                double magnitude = 0;
                for (int i = 0; i < cols; i++) {
                    magnitude += Math.abs(row[i] * x[qOff + i]);
                }
                assertThat(vector).as("seed %d row %d", seed, r).isCloseTo(scalar, within((float) (1e-5 * magnitude + 1e-6)));
                // Q8 activations carry about 1/254 relative error per element.
                assertThat(scalar).isCloseTo(exact, within((float) (0.01 * magnitude + 1e-5)));
            }
        }
    }

    /**
     * The extremes of the integer dots' 16-bit lanes: every Q8_0 quant -128 or every Q4_0
     * nibble 0 (-8), against activations that all quantise to +127 or -127 with one sign, so
     * every product, pair and block sum is as large as the formats allow.
     */
    @ParameterizedTest(name = "{0} quant byte {1} activation sign {2}")
    @MethodSource("extremes")
    void dotQ8_extremeQuants_vectorMatchesScalar(GgmlType type, int quantByte, int sign) {
        int rows = 3;
        int cols = 32 * 7;
        try (Arena arena = Arena.ofConfined()) {
            java.lang.foreign.MemorySegment seg = arena.allocate(rows * type.bytesFor(cols));
            for (long b = 0; b < seg.byteSize() / type.blockBytes(); b++) {
                long off = b * type.blockBytes();
                seg.set(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, off, Float.floatToFloat16(1f));
                for (long i = 2; i < type.blockBytes(); i++) {
                    seg.set(java.lang.foreign.ValueLayout.JAVA_BYTE, off + i, (byte) quantByte);
                }
            }
            WeightMatrix m = WeightMatrix.of(type, seg, rows, cols);
            float[] x = new float[cols];
            java.util.Arrays.fill(x, sign * 3f);
            Q8Activations q = new Q8Activations();
            q.quantize(x, 0, 1, cols);
            for (int r = 0; r < rows; r++) {
                float scalar = m.dotQ8Scalar(r, q.q, 0, q.scales, q.sums, 0);
                // float sums in another order differ in the last bits; an overflowed 16-bit lane is far off
                assertThat(m.dotQ8Vector(r, q.q, 0, q.scales, q.sums, 0)).as("row %d", r)
                        .isCloseTo(scalar, within(Math.abs(scalar) * 1e-6f));
                assertThat(scalar).isCloseTo(m.dotScalar(r, x, 0), within(Math.abs(scalar) * 1e-3f));
            }
        }
    }

    static Stream<Arguments> extremes() {
        return Stream.of(Arguments.of(GgmlType.Q8_0, 0x80, 1), Arguments.of(GgmlType.Q8_0, 0x80, -1),
                Arguments.of(GgmlType.Q8_0, 0x7f, 1), Arguments.of(GgmlType.Q8_0, 0x7f, -1),
                Arguments.of(GgmlType.Q4_0, 0x00, 1), Arguments.of(GgmlType.Q4_0, 0xff, -1));
    }

    @Test
    void quantize_knownRow_matchesLlamaCppQ8Rule() {
        float[] x = new float[32];
        for (int i = 0; i < 32; i++) {
            x[i] = (i - 16) * 0.5f;
        }
        Q8Activations q = new Q8Activations();
        q.quantize(x, 0, 1, 32);
        float d = 8f / 127f;
        assertThat(q.scales[0]).isEqualTo(Float.float16ToFloat(Float.floatToFloat16(d)));
        assertThat(q.q[0]).isEqualTo((short) -127);
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            assertThat((int) q.q[i]).isEqualTo((int) Math.rint(x[i] * (1f / d)));
            sum += q.q[i];
        }
        assertThat(q.sums[0]).isEqualTo(sum);
    }

    @Test
    void of_unsupportedType_namesIt() {
        try (Arena arena = Arena.ofConfined()) {
            assertThatThrownBy(() -> WeightMatrix.of(GgmlType.Q5_1, arena.allocate(24 * 4), 4, 32))
                    .isInstanceOf(ModelFormatException.class).hasMessageContaining("Q5_1");
        }
    }

    @Test
    void of_columnsNotWholeBlocks_isRejected() {
        try (Arena arena = Arena.ofConfined()) {
            assertThatThrownBy(() -> WeightMatrix.of(GgmlType.Q8_0, arena.allocate(1024), 2, 48))
                    .isInstanceOf(ModelFormatException.class).hasMessageContaining("multiple of 32");
        }
    }

    @Test
    void of_segmentTooSmall_isRejected() {
        try (Arena arena = Arena.ofConfined()) {
            assertThatThrownBy(() -> WeightMatrix.of(GgmlType.F32, arena.allocate(60), 4, 4))
                    .isInstanceOf(ModelFormatException.class).hasMessageContaining("needs 64 bytes");
        }
    }
}
