package dev.tandem.engine.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** The element-wise and attention kernels against their scalar twins, odd sizes and offsets. */
class FloatOpsTest {
    static LongStream seeds() {
        return LongStream.rangeClosed(1, 8);
    }

    private static int oddSize(SplittableRandom rnd) {
        return 1 + rnd.nextInt(70);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void rmsNormAddSilu_vector_matchScalarTwins(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = oddSize(rnd);
        int off = rnd.nextInt(5);
        float[] x = RandomWeights.floats(off + n, rnd);
        float[] weight = RandomWeights.floats(n, rnd);
        float[] a = new float[off + n];
        float[] b = new float[off + n];
        FloatOps.rmsNormScalar(x, off, weight, a, off, n, 1e-5f);
        FloatOps.rmsNormVector(x, off, weight, b, off, n, 1e-5f);
        assertThat(b).as("seed %d rmsNorm n=%d", seed, n).containsExactly(a, within(1e-5f));

        float[] src = RandomWeights.floats(off + n, rnd);
        float[] dstA = x.clone();
        float[] dstB = x.clone();
        FloatOps.addScalar(dstA, off, src, off, n);
        FloatOps.addVector(dstB, off, src, off, n);
        assertThat(dstB).containsExactly(dstA);

        float[] up = RandomWeights.floats(off + n, rnd);
        float[] gateA = x.clone();
        float[] gateB = x.clone();
        FloatOps.siluMulScalar(gateA, up, off, n);
        FloatOps.siluMulVector(gateB, up, off, n);
        assertThat(gateB).as("seed %d silu", seed).containsExactly(gateA, within(1e-5f));
        float g = x[off];
        assertThat(gateA[off]).isCloseTo((float) (g / (1 + Math.exp(-g)) * up[off]), within(1e-5f));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void softmax_vector_matchesScalarAndSumsToOne(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = oddSize(rnd);
        int off = rnd.nextInt(5);
        float[] x = RandomWeights.floats(off + n, rnd);
        for (int i = 0; i < x.length; i++) {
            x[i] *= 10;
        }
        float[] a = x.clone();
        float[] b = x.clone();
        FloatOps.softmaxScalar(a, off, n);
        FloatOps.softmaxVector(b, off, n);
        assertThat(b).containsExactly(a, within(1e-6f));
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += a[off + i];
        }
        assertThat(sum).isCloseTo(1.0, within(1e-5));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void rowKernels_f32AndF16Rows_matchScalarTwins(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = oddSize(rnd);
        int qOff = rnd.nextInt(5);
        float[] q = RandomWeights.floats(qOff + n, rnd);
        float[] row = RandomWeights.floats(n, rnd);
        try (Arena arena = Arena.ofConfined()) {
            for (boolean f16 : new boolean[] {false, true}) {
                long misalign = rnd.nextInt(4) * 2L;
                MemorySegment seg = arena.allocate(n * 4L + 16).asSlice(misalign);
                FloatOps.storeRow(row, 0, seg, 0, n, f16);
                float scalar = FloatOps.dotRowScalar(q, qOff, seg, 0, n, f16);
                float vector = FloatOps.dotRowVector(q, qOff, seg, 0, n, f16);
                assertThat(vector).as("seed %d dotRow f16=%s", seed, f16).isCloseTo(scalar, within(1e-4f * n));
                float[] outA = RandomWeights.floats(qOff + n, rnd);
                float[] outB = outA.clone();
                FloatOps.axpyRowScalar(outA, qOff, 0.37f, seg, 0, n, f16);
                FloatOps.axpyRowVector(outB, qOff, 0.37f, seg, 0, n, f16);
                assertThat(outB).as("axpyRow f16=%s", f16).containsExactly(outA);
                float[] loaded = new float[n];
                AttentionKernels.loadRow(seg, 0, n, f16, loaded, 0);
                for (int i = 0; i < n; i++) {
                    float expected = f16 ? Float.float16ToFloat(Float.floatToFloat16(row[i])) : row[i];
                    assertThat(loaded[i]).isEqualTo(expected);
                }
            }
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void attentionTile_vector_matchesScalarTwin(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int hd = 1 + rnd.nextInt(20);
        int rows = 1 + rnd.nextInt(9);
        int jPad = AttentionKernels.paddedSlots(1 + rnd.nextInt(20));
        float[] q = RandomWeights.floats(rows * hd, rnd);
        float[] kT = RandomWeights.floats(hd * jPad, rnd);
        float[] v = RandomWeights.floats(jPad * hd, rnd);
        float[] sA = new float[rows * jPad];
        float[] sB = new float[rows * jPad];
        AttentionKernels.scoresScalar(q, rows, hd, kT, jPad, sA);
        AttentionKernels.scoresVector(q, rows, hd, kT, jPad, sB);
        assertThat(sB).containsExactly(sA, within(1e-4f));
        float[] oA = RandomWeights.floats(rows * hd, rnd);
        float[] oB = oA.clone();
        float[] maxA = new float[rows];
        float[] sumA = new float[rows];
        for (int m = 0; m < rows; m++) {
            maxA[m] = (float) rnd.nextGaussian();
            sumA[m] = 1 + rnd.nextFloat();
        }
        float[] maxB = maxA.clone();
        float[] sumB = sumA.clone();
        for (int m = 0; m < rows; m++) {
            int valid = 1 + rnd.nextInt(jPad);
            float[] scores = sA.clone(); // both update their row in place
            AttentionKernels.updateScalar(sA, m, valid, jPad, v, hd, oA, maxA, sumA);
            AttentionKernels.updateVector(scores, m, valid, jPad, v, hd, oB, maxB, sumB);
        }
        assertThat(oB).containsExactly(oA, within(1e-4f));
        assertThat(maxB).containsExactly(maxA);
        assertThat(sumB).containsExactly(sumA, within(1e-4f));
    }
}
