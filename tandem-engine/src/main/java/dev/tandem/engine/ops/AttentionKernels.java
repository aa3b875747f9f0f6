package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.FL;
import static dev.tandem.engine.ops.Simd.I;
import static dev.tandem.engine.ops.Simd.HALF_BITS;
import static dev.tandem.engine.ops.Simd.HALF_SCALE;
import static dev.tandem.engine.ops.Simd.LE;
import static dev.tandem.engine.ops.Simd.S;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The inner kernels of tiled attention over one KV block (FlashAttention's online softmax,
 * Dao et al. 2022): a tile of M query rows against the {@code slots} positions of one block.
 *
 * <pre>
 * Shapes (floats, row-major):
 *   q    [M][hd]          query rows, pre-scaled by 1/sqrt(hd)
 *   kT   [hd][jPad]       the block's keys, transposed (jPad = block size rounded up to FL; pad = 0)
 *   v    [jPad][hd]       the block's values (pad rows = 0)
 *   s    [M][jPad]        scores, then probabilities
 *   o    [M][hd]          running un-normalised outputs; max[M], sum[M] running softmax state
 * Block loaders read K/V rows from the KV pool (F32 or F16, little-endian) and convert once,
 * so every query row of the tile (all query heads of a GQA group, all tokens of a prompt
 * tile) reuses them.
 * </pre>
 *
 * <p>Thread ownership: stateless; callers pass per-thread scratch.
 */
public final class AttentionKernels {
    private AttentionKernels() {
    }

    /** Rounds a block size up to whole vectors. */
    public static int paddedSlots(int blockSize) {
        return (blockSize + FL - 1) / FL * FL;
    }

    /**
     * Loads {@code slots} K rows (hd elements each, rows {@code rowBytes} apart, from byte
     * {@code off}) into kT[d][j], zeroing slots..jPad, and the V rows likewise into v[j][d].
     */
    public static void loadBlock(MemorySegment seg, long keyOff, long valueOff, long rowBytes, int slots, int hd,
                                 boolean f16, float[] kT, float[] v, int jPad, float[] rowTmp) {
        for (int j = 0; j < slots; j++) {
            loadRow(seg, keyOff + j * rowBytes, hd, f16, rowTmp, 0);
            for (int d = 0; d < hd; d++) {
                kT[d * jPad + j] = rowTmp[d];
            }
            loadRow(seg, valueOff + j * rowBytes, hd, f16, v, j * hd);
        }
        for (int j = slots; j < jPad; j++) {
            for (int d = 0; d < hd; d++) {
                kT[d * jPad + j] = 0f;
            }
            java.util.Arrays.fill(v, j * hd, (j + 1) * hd, 0f);
        }
    }

    /** hd elements of one F32/F16 row at byte {@code off} into out[outOff ..]. */
    static void loadRow(MemorySegment seg, long off, int hd, boolean f16, float[] out, int outOff) {
        int d = 0;
        if (Simd.ENABLED) {
            if (f16) {
                for (int bound = hd - FL; d <= bound; d += FL) {
                    ((IntVector) ShortVector.fromMemorySegment(S, seg, off + 2L * d, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(HALF_BITS).reinterpretAsFloats().mul(HALF_SCALE).intoArray(out, outOff + d);
                }
            } else {
                for (int bound = hd - FL; d <= bound; d += FL) {
                    FloatVector.fromMemorySegment(F, seg, off + 4L * d, LE).intoArray(out, outOff + d);
                }
            }
        }
        for (; d < hd; d++) {
            out[outOff + d] = f16 ? Simd.half(seg, off + 2L * d) : seg.get(Simd.F32_LE, off + 4L * d);
        }
    }

    /** s[m][j] = sum_d q[m][d] * kT[d][j] for m in 0..rows, j in 0..jPad. */
    public static void scores(float[] q, int rows, int hd, float[] kT, int jPad, float[] s) {
        if (Simd.ENABLED) {
            scoresVector(q, rows, hd, kT, jPad, s);
        } else {
            scoresScalar(q, rows, hd, kT, jPad, s);
        }
    }

    /** Four query rows at a time against each key vector: four independent FMA chains. */
    static void scoresVector(float[] q, int rows, int hd, float[] kT, int jPad, float[] s) {
        int m = 0;
        for (; m + 4 <= rows; m += 4) {
            int q0 = m * hd;
            for (int j = 0; j < jPad; j += FL) {
                FloatVector a0 = FloatVector.zero(F);
                FloatVector a1 = FloatVector.zero(F);
                FloatVector a2 = FloatVector.zero(F);
                FloatVector a3 = FloatVector.zero(F);
                for (int d = 0; d < hd; d++) {
                    FloatVector k = FloatVector.fromArray(F, kT, d * jPad + j);
                    a0 = k.fma(FloatVector.broadcast(F, q[q0 + d]), a0);
                    a1 = k.fma(FloatVector.broadcast(F, q[q0 + hd + d]), a1);
                    a2 = k.fma(FloatVector.broadcast(F, q[q0 + 2 * hd + d]), a2);
                    a3 = k.fma(FloatVector.broadcast(F, q[q0 + 3 * hd + d]), a3);
                }
                a0.intoArray(s, m * jPad + j);
                a1.intoArray(s, (m + 1) * jPad + j);
                a2.intoArray(s, (m + 2) * jPad + j);
                a3.intoArray(s, (m + 3) * jPad + j);
            }
        }
        for (; m < rows; m++) {
            for (int j = 0; j < jPad; j += FL) {
                FloatVector a = FloatVector.zero(F);
                for (int d = 0; d < hd; d++) {
                    a = FloatVector.fromArray(F, kT, d * jPad + j).fma(FloatVector.broadcast(F, q[m * hd + d]), a);
                }
                a.intoArray(s, m * jPad + j);
            }
        }
    }

    static void scoresScalar(float[] q, int rows, int hd, float[] kT, int jPad, float[] s) {
        for (int m = 0; m < rows; m++) {
            for (int j = 0; j < jPad; j++) {
                float a = 0f;
                for (int d = 0; d < hd; d++) {
                    a = Math.fma(kT[d * jPad + j], q[m * hd + d], a);
                }
                s[m * jPad + j] = a;
            }
        }
    }

    /**
     * Online-softmax update of row m with its first {@code valid} scores of this block:
     * newMax = max(max[m], s[m][j &lt; valid]); c = e^(max[m] - newMax);
     * p[j] = e^(s[m][j] - newMax) (0 for j &ge; valid); sum[m] = sum[m]*c + sum(p);
     * o[m] = o[m]*c + sum_j p[j] v[j].
     */
    public static void update(float[] s, int m, int valid, int jPad, float[] v, int hd, float[] o, float[] max,
                              float[] sum) {
        if (Simd.ENABLED) {
            updateVector(s, m, valid, jPad, v, hd, o, max, sum);
        } else {
            updateScalar(s, m, valid, jPad, v, hd, o, max, sum);
        }
    }

    static void updateVector(float[] s, int m, int valid, int jPad, float[] v, int hd, float[] o, float[] max,
                             float[] sum) {
        int sRow = m * jPad;
        float blockMax = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < valid; j++) {
            blockMax = Math.max(blockMax, s[sRow + j]);
        }
        float newMax = Math.max(max[m], blockMax);
        float c = (float) Math.exp(max[m] - newMax);
        for (int j = valid; j < jPad; j++) {
            s[sRow + j] = Float.NEGATIVE_INFINITY;
        }
        FloatVector total = FloatVector.zero(F);
        for (int j = 0; j < jPad; j += FL) {
            FloatVector p = FloatVector.fromArray(F, s, sRow + j).sub(newMax).lanewise(VectorOperators.EXP);
            p.intoArray(s, sRow + j);
            total = total.add(p);
        }
        sum[m] = sum[m] * c + total.reduceLanes(VectorOperators.ADD);
        max[m] = newMax;
        int oRow = m * hd;
        int d = 0;
        for (; d + FL <= hd; d += FL) {
            FloatVector acc = FloatVector.fromArray(F, o, oRow + d).mul(c);
            for (int j = 0; j < valid; j++) {
                acc = FloatVector.fromArray(F, v, j * hd + d).fma(FloatVector.broadcast(F, s[sRow + j]), acc);
            }
            acc.intoArray(o, oRow + d);
        }
        for (; d < hd; d++) {
            float acc = o[oRow + d] * c;
            for (int j = 0; j < valid; j++) {
                acc = Math.fma(v[j * hd + d], s[sRow + j], acc);
            }
            o[oRow + d] = acc;
        }
    }

    static void updateScalar(float[] s, int m, int valid, int jPad, float[] v, int hd, float[] o, float[] max,
                             float[] sum) {
        int sRow = m * jPad;
        float blockMax = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < valid; j++) {
            blockMax = Math.max(blockMax, s[sRow + j]);
        }
        float newMax = Math.max(max[m], blockMax);
        float c = (float) Math.exp(max[m] - newMax);
        float total = 0f;
        for (int j = 0; j < valid; j++) {
            float p = (float) Math.exp(s[sRow + j] - newMax);
            s[sRow + j] = p;
            total += p;
        }
        sum[m] = sum[m] * c + total;
        max[m] = newMax;
        int oRow = m * hd;
        for (int d = 0; d < hd; d++) {
            float acc = o[oRow + d] * c;
            for (int j = 0; j < valid; j++) {
                acc = Math.fma(v[j * hd + d], s[sRow + j], acc);
            }
            o[oRow + d] = acc;
        }
    }
}
