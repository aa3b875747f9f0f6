package dev.tandem.engine.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class MatMulTest {
    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        int[] tokenCounts = {1, 2, 3, 4, 5, 9, 16, 17, 33};
        long seed = 100;
        for (GgmlType type : WeightMatrixTest.TYPES) {
            for (int tokens : tokenCounts) {
                b.add(Arguments.of(type, tokens, seed++));
            }
        }
        return b.build();
    }

    /**
     * Reference: double-precision products of the dequantised weights; {@code magnitude} receives
     * sum |w x| per output (the scale of rounding errors).
     */
    private static double[] reference(WeightMatrix m, float[] x, int xOff, int tokens, double[] magnitude) {
        int rows = m.rows();
        int cols = m.cols();
        double[] y = new double[tokens * rows];
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++) {
            m.dequantizeScalar(r, 0, cols, row, 0);
            for (int t = 0; t < tokens; t++) {
                double s = 0;
                double mag = 0;
                for (int k = 0; k < cols; k++) {
                    s += (double) row[k] * x[xOff + t * cols + k];
                    mag += Math.abs((double) row[k] * x[xOff + t * cols + k]);
                }
                y[t * rows + r] = s;
                magnitude[t * rows + r] = mag;
            }
        }
        return y;
    }

    @ParameterizedTest(name = "{0} tokens {1} seed {2}")
    @MethodSource("cases")
    void multiply_anyTokenCountAndThreads_matchesDoubleReference(GgmlType type, int tokens, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = 7 + rnd.nextInt(40);
        int cols = WeightMatrixTest.cols(type, rnd) + (type.blockSize() == 1 ? 0 : 2 * type.blockSize());
        int xOff = rnd.nextInt(5);
        int outOff = rnd.nextInt(5);
        try (Arena arena = Arena.ofShared(); KernelPool pool = new KernelPool(1 + (int) (seed % 3))) {
            WeightMatrix m = RandomWeights.matrix(arena, type, rows, cols, rnd.nextInt(4), rnd);
            float[] x = RandomWeights.floats(xOff + tokens * cols, rnd);
            float[] out = new float[outOff + tokens * rows + 2];
            new MatMul(pool).multiply(m, x, xOff, tokens, out, outOff);
            double[] magnitude = new double[tokens * rows];
            double[] expected = reference(m, x, xOff, tokens, magnitude);
            // The decode path of 8/4-bit weights quantises x to Q8 (about 1/254 relative error per element).
            boolean quantisedX = m.hasQ8Dot() && tokens < m.plan().rowsMinTokens();
            for (int i = 0; i < expected.length; i++) {
                double tolerance = quantisedX ? 1e-2 * magnitude[i] + 1e-5 : 1e-5 * magnitude[i] + 1e-6;
                assertThat((double) out[outOff + i]).as("seed %d output %d", seed, i)
                        .isCloseTo(expected[i], within(tolerance));
            }
            assertThat(out[outOff + tokens * rows]).isZero();
        }
    }

    static Stream<Arguments> rowTileCases() {
        Stream.Builder<Arguments> b = Stream.builder();
        long seed = 700;
        for (GgmlType type : WeightMatrixTest.TYPES) {
            for (int tokens : new int[] {1, 2, 3, 4, 5, 7, 8, 13}) {
                b.add(Arguments.of(type, tokens, seed++));
            }
        }
        return b.build();
    }

    @ParameterizedTest(name = "{0} tokens {1} seed {2}")
    @MethodSource("rowTileCases")
    void multiply_rowTiles_matchDoubleReference(GgmlType type, int tokens, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int rows = 7 + rnd.nextInt(40); // odd and even: the last row of an odd chunk runs alone
        int cols = WeightMatrixTest.cols(type, rnd) + (type.blockSize() == 1 ? 0 : 3 * type.blockSize());
        int xOff = rnd.nextInt(5);
        int outOff = rnd.nextInt(5);
        try (Arena arena = Arena.ofShared(); KernelPool pool = new KernelPool(1 + (int) (seed % 3))) {
            WeightMatrix m = RandomWeights.matrix(arena, type, rows, cols, rnd.nextInt(4), rnd);
            float[] x = RandomWeights.floats(xOff + tokens * cols, rnd);
            float[] out = new float[outOff + tokens * rows + 2];
            new MatMul(pool).multiply(m, x, xOff, tokens, out, outOff, MatMul.Path.ROWS, false);
            double[] magnitude = new double[tokens * rows];
            double[] expected = reference(m, x, xOff, tokens, magnitude);
            for (int i = 0; i < expected.length; i++) {
                assertThat((double) out[outOff + i]).as("seed %d output %d", seed, i)
                        .isCloseTo(expected[i], within(1e-5 * magnitude[i] + 1e-6));
            }
            assertThat(out[outOff + tokens * rows]).isZero();
            for (int i = 0; i < outOff; i++) {
                assertThat(out[i]).as("before the output").isZero();
            }
        }
    }

    @Test
    void rowTile_vectorAndScalar_agree() {
        SplittableRandom rnd = new SplittableRandom(21);
        for (int n : new int[] {1, Simd.FL - 1, 3 * Simd.FL, 5 * Simd.FL + 3, 1024 + 7}) {
            int w0 = 3;
            int w1 = w0 + n + 5; // misaligned, apart
            float[] w = RandomWeights.floats(w1 + n + 2, rnd);
            int xOff = 1;
            int xStride = n + 3;
            float[] x = RandomWeights.floats(xOff + 4 * xStride, rnd);
            int yStride = 9;
            float[] expected = new float[2 + 4 * yStride];
            float[] actual = new float[2 + 4 * yStride];
            GemmKernels.rows2x4Scalar(w, w0, w1, n, x, xOff, xStride, expected, 2, yStride);
            GemmKernels.rows2x4(w, w0, w1, n, x, xOff, xStride, actual, 2, yStride);
            assertTileClose(w, new int[] {w0, w1}, n, x, xOff, xStride, expected, actual, 2, yStride);
        }
    }

    /**
     * A tile of 4 tokens x {@code rowStarts.length} rows at {@code yOff} (token t's row i at
     * {@code yOff + t * yStride + i}) is within rounding of {@code expected}, scaled by each dot
     * product's magnitude, and nothing else of {@code actual} was written.
     */
    private static void assertTileClose(float[] w, int[] rowStarts, int n, float[] x, int xOff, int xStride,
                                        float[] expected, float[] actual, int yOff, int yStride) {
        int rows = rowStarts.length;
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < rows; i++) {
                int at = yOff + t * yStride + i;
                double magnitude = 0;
                for (int k = 0; k < n; k++) {
                    magnitude += Math.abs((double) w[rowStarts[i] + k] * x[xOff + t * xStride + k]);
                }
                assertThat((double) actual[at]).as("n %d token %d row %d", n, t, i)
                        .isCloseTo(expected[at], within(1e-5 * magnitude + 1e-7));
            }
        }
        for (int i = 0; i < actual.length; i++) {
            if (i < yOff || (i - yOff) % yStride > rows - 1) {
                assertThat(actual[i]).as("untouched %d", i).isZero();
            }
        }
    }

    @Test
    void rowTile4x4_vectorAndScalar_agree() {
        SplittableRandom rnd = new SplittableRandom(22);
        for (int n : new int[] {1, Simd.FL - 1, 3 * Simd.FL, 5 * Simd.FL + 3, 1024 + 7}) {
            int w0 = 5;
            int wStride = n + 3; // misaligned rows
            float[] w = RandomWeights.floats(w0 + 4 * wStride, rnd);
            int xOff = 2;
            int xStride = n + 1;
            float[] x = RandomWeights.floats(xOff + 4 * xStride, rnd);
            int yStride = 11;
            float[] expected = new float[3 + 4 * yStride];
            float[] actual = new float[3 + 4 * yStride];
            GemmKernels.rows4x4Scalar(w, w0, wStride, n, x, xOff, xStride, expected, 3, yStride);
            GemmKernels.rows4x4(w, w0, wStride, n, x, xOff, xStride, actual, 3, yStride);
            assertTileClose(w, new int[] {w0, w0 + wStride, w0 + 2 * wStride, w0 + 3 * wStride}, n, x, xOff,
                    xStride, expected, actual, 3, yStride);
        }
    }

    @Test
    void multiply_largeMatrixOnSeveralThreads_matchesSingleThread() {
        // Not bit for bit: a vector's lane sum (reduceLanes) has no fixed order, and the compiled
        // kernel and the interpreter's sum differ in the last bits, so a row computed on a thread
        // whose kernel the JIT has not compiled yet may differ there; chunking must change nothing else.
        SplittableRandom rnd = new SplittableRandom(5);
        int rows = 301;
        int cols = 512;
        try (Arena arena = Arena.ofShared(); KernelPool one = new KernelPool(1); KernelPool three = new KernelPool(3)) {
            for (GgmlType type : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_K}) {
                WeightMatrix m = RandomWeights.matrix(arena, type, rows, cols, 0, rnd);
                for (int tokens : new int[] {1, 3, 21}) {
                    float[] x = RandomWeights.floats(tokens * cols, rnd);
                    float[] a = new float[tokens * rows];
                    float[] b = new float[tokens * rows];
                    new MatMul(one).multiply(m, x, 0, tokens, a, 0);
                    new MatMul(three).multiply(m, x, 0, tokens, b, 0);
                    for (int i = 0; i < a.length; i++) {
                        assertThat(b[i]).as("%s tokens %d output %d", type, tokens, i)
                                .isCloseTo(a[i], within(1e-5f * Math.max(1f, Math.abs(a[i]))));
                    }
                }
            }
        }
    }

    @Test
    void multiply_blockedPath_isIndependentOfTokenGrouping() {
        // Each output of the blocked path is one sequential FMA chain over k, so a token gives the same
        // bits whether it is computed with 4 or 40 others.
        SplittableRandom rnd = new SplittableRandom(9);
        try (Arena arena = Arena.ofShared(); KernelPool pool = new KernelPool(2)) {
            WeightMatrix m = RandomWeights.matrix(arena, GgmlType.Q6_K, 37, 1024, 0, rnd);
            float[] x = RandomWeights.floats(41 * 1024, rnd);
            float[] all = new float[41 * 37];
            float[] few = new float[4 * 37];
            MatMul mm = new MatMul(pool);
            mm.multiply(m, x, 0, 41, all, 0);
            mm.multiply(m, x, 7 * 1024, 4, few, 0);
            for (int i = 0; i < few.length; i++) {
                assertThat(few[i]).isEqualTo(all[7 * 37 + i]);
            }
        }
    }

    @Test
    void tiles_vectorAndScalar_areBitIdentical() {
        SplittableRandom rnd = new SplittableRandom(13);
        int kc = 77;
        int nr = 2 * Simd.FL;
        int tp = 3 * Simd.FL; // one 2-vector group and one 1-vector group
        float[] w = RandomWeights.floats(GemmKernels.MR * kc, rnd);
        float[] wide = RandomWeights.floats(kc * nr, rnd);         // [kc][2 FL]
        float[] narrow = RandomWeights.floats(kc * Simd.FL, rnd);  // [kc][FL]
        float[] init = RandomWeights.floats(GemmKernels.MR * tp, rnd);
        for (boolean accumulate : new boolean[] {false, true}) {
            float[] expected = init.clone();
            GemmKernels.tileScalar(w, kc, GemmKernels.MR, wide, 0, nr, tp, expected, 0, accumulate);
            GemmKernels.tileScalar(w, kc, GemmKernels.MR, narrow, 0, Simd.FL, tp, expected, nr, accumulate);
            float[] actual = init.clone();
            GemmKernels.tile6x2(w, kc, wide, 0, tp, actual, 0, accumulate);
            GemmKernels.tile6x1(w, kc, narrow, 0, tp, actual, nr, accumulate);
            assertThat(actual).containsExactly(expected);
            float[] single = init.clone();
            for (int r = 0; r < GemmKernels.MR; r++) {
                GemmKernels.tile1x1(w, r * kc, kc, wide, 0, nr, single, r * tp, accumulate);
                GemmKernels.tile1x1(w, r * kc, kc, wide, Simd.FL, nr, single, r * tp + Simd.FL, accumulate);
                GemmKernels.tile1x1(w, r * kc, kc, narrow, 0, Simd.FL, single, r * tp + nr, accumulate);
            }
            assertThat(single).containsExactly(expected);
        }
    }

    @Test
    void multiply_outputTooSmall_isRejected() {
        try (Arena arena = Arena.ofShared(); KernelPool pool = new KernelPool(1)) {
            WeightMatrix m = RandomWeights.matrix(arena, GgmlType.F32, 4, 8, 0, new SplittableRandom(1));
            assertThatThrownBy(() -> new MatMul(pool).multiply(m, new float[16], 0, 2, new float[7], 0))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("out has 7");
        }
    }
}
