package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.F32_LE;
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
 * Element-wise kernels of the forward pass over {@code float[]} activations, and the two
 * attention kernels that read K and V rows (F32 or F16) straight from the KV pool's
 * {@link MemorySegment}. Every public kernel dispatches on {@link Simd#ENABLED} to a vector
 * kernel or its scalar twin (package-private, {@code ...Scalar}); vector loops leave ragged
 * tails to scalar code.
 *
 * <p>Thread ownership: stateless, safe for concurrent use.
 */
public final class FloatOps {
    private FloatOps() {
    }

    /**
     * RMSNorm (Zhang and Sennrich 2019): {@code out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]}
     * over {@code n} elements; {@code out} may alias {@code x}.
     */
    public static void rmsNorm(float[] x, int xOff, float[] weight, float[] out, int outOff, int n, float eps) {
        if (Simd.ENABLED) {
            rmsNormVector(x, xOff, weight, out, outOff, n, eps);
        } else {
            rmsNormScalar(x, xOff, weight, out, outOff, n, eps);
        }
    }

    static void rmsNormVector(float[] x, int xOff, float[] weight, float[] out, int outOff, int n, float eps) {
        float scale = rmsScale(dotVector(x, xOff, x, xOff, n), n, eps);
        int i = 0;
        for (int bound = n - FL; i <= bound; i += FL) {
            FloatVector.fromArray(F, x, xOff + i).mul(scale).mul(FloatVector.fromArray(F, weight, i))
                    .intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            out[outOff + i] = x[xOff + i] * scale * weight[i];
        }
    }

    static void rmsNormScalar(float[] x, int xOff, float[] weight, float[] out, int outOff, int n, float eps) {
        float scale = rmsScale(dotScalar(x, xOff, x, xOff, n), n, eps);
        for (int i = 0; i < n; i++) {
            out[outOff + i] = x[xOff + i] * scale * weight[i];
        }
    }

    private static float rmsScale(float sumSquares, int n, float eps) {
        return (float) (1.0 / Math.sqrt(sumSquares / n + (double) eps));
    }

    /** {@code a[aOff..aOff+n) . b[bOff..bOff+n)}. */
    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        return Simd.ENABLED ? dotVector(a, aOff, b, bOff, n) : dotScalar(a, aOff, b, bOff, n);
    }

    static float dotVector(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 2 * FL; i <= bound; i += 2 * FL) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
            acc1 = FloatVector.fromArray(F, a, aOff + i + FL).fma(FloatVector.fromArray(F, b, bOff + i + FL), acc1);
        }
        for (int bound = n - FL; i <= bound; i += FL) {
            acc0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc0);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    static float dotScalar(float[] a, int aOff, float[] b, int bOff, int n) {
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return sum;
    }

    /** {@code dst[dOff + i] += src[sOff + i]} for {@code n} elements. */
    public static void add(float[] dst, int dOff, float[] src, int sOff, int n) {
        if (Simd.ENABLED) {
            addVector(dst, dOff, src, sOff, n);
        } else {
            addScalar(dst, dOff, src, sOff, n);
        }
    }

    static void addVector(float[] dst, int dOff, float[] src, int sOff, int n) {
        int i = 0;
        for (int bound = n - FL; i <= bound; i += FL) {
            FloatVector.fromArray(F, dst, dOff + i).add(FloatVector.fromArray(F, src, sOff + i)).intoArray(dst, dOff + i);
        }
        for (; i < n; i++) {
            dst[dOff + i] += src[sOff + i];
        }
    }

    static void addScalar(float[] dst, int dOff, float[] src, int sOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dOff + i] += src[sOff + i];
        }
    }

    /** SwiGLU's gate: {@code gate[i] = silu(gate[i]) * up[i]}, silu(x) = x / (1 + e^-x). */
    public static void siluMul(float[] gate, float[] up, int off, int n) {
        if (Simd.ENABLED) {
            siluMulVector(gate, up, off, n);
        } else {
            siluMulScalar(gate, up, off, n);
        }
    }

    static void siluMulVector(float[] gate, float[] up, int off, int n) {
        int i = 0;
        for (int bound = n - FL; i <= bound; i += FL) {
            FloatVector g = FloatVector.fromArray(F, gate, off + i);
            FloatVector e = g.neg().lanewise(VectorOperators.EXP);
            g.div(e.add(1f)).mul(FloatVector.fromArray(F, up, off + i)).intoArray(gate, off + i);
        }
        siluMulScalar(gate, up, off + i, n - i);
    }

    static void siluMulScalar(float[] gate, float[] up, int off, int n) {
        for (int i = 0; i < n; i++) {
            float g = gate[off + i];
            gate[off + i] = g / (1f + (float) Math.exp(-g)) * up[off + i];
        }
    }

    /** In-place softmax over {@code x[off .. off+n)}. */
    public static void softmax(float[] x, int off, int n) {
        if (Simd.ENABLED) {
            softmaxVector(x, off, n);
        } else {
            softmaxScalar(x, off, n);
        }
    }

    static void softmaxVector(float[] x, int off, int n) {
        int i = 0;
        FloatVector maxV = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int bound = n - FL; i <= bound; i += FL) {
            maxV = maxV.max(FloatVector.fromArray(F, x, off + i));
        }
        float max = maxV.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            max = Math.max(max, x[off + i]);
        }
        FloatVector acc = FloatVector.zero(F);
        i = 0;
        for (int bound = n - FL; i <= bound; i += FL) {
            FloatVector e = FloatVector.fromArray(F, x, off + i).sub(max).lanewise(VectorOperators.EXP);
            e.intoArray(x, off + i);
            acc = acc.add(e);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float e = (float) Math.exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        FloatVector inv = FloatVector.broadcast(F, 1f / sum);
        i = 0;
        for (int bound = n - FL; i <= bound; i += FL) {
            FloatVector.fromArray(F, x, off + i).mul(inv).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            x[off + i] *= 1f / sum;
        }
    }

    static void softmaxScalar(float[] x, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, x[off + i]);
        }
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        for (int i = 0; i < n; i++) {
            x[off + i] *= 1f / sum;
        }
    }

    /**
     * {@code q[qOff..qOff+n) . row}, where the row is {@code n} little-endian floats (F32) or
     * halves (F16) at byte {@code rowOff} of {@code seg}.
     */
    public static float dotRow(float[] q, int qOff, MemorySegment seg, long rowOff, int n, boolean f16) {
        return Simd.ENABLED ? dotRowVector(q, qOff, seg, rowOff, n, f16) : dotRowScalar(q, qOff, seg, rowOff, n, f16);
    }

    static float dotRowVector(float[] q, int qOff, MemorySegment seg, long rowOff, int n, boolean f16) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        if (f16) {
            for (int bound = n - FL; i <= bound; i += FL) {
                FloatVector k = ((IntVector) ShortVector.fromMemorySegment(S, seg, rowOff + 2L * i, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(HALF_BITS).reinterpretAsFloats().mul(HALF_SCALE);
                acc = k.fma(FloatVector.fromArray(F, q, qOff + i), acc);
            }
        } else {
            for (int bound = n - FL; i <= bound; i += FL) {
                acc = FloatVector.fromMemorySegment(F, seg, rowOff + 4L * i, LE).fma(FloatVector.fromArray(F, q, qOff + i), acc);
            }
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += q[qOff + i] * element(seg, rowOff, i, f16);
        }
        return sum;
    }

    static float dotRowScalar(float[] q, int qOff, MemorySegment seg, long rowOff, int n, boolean f16) {
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            sum += q[qOff + i] * element(seg, rowOff, i, f16);
        }
        return sum;
    }

    /** {@code out[outOff + i] += p * row[i]}, the row as in {@link #dotRow}. */
    public static void axpyRow(float[] out, int outOff, float p, MemorySegment seg, long rowOff, int n, boolean f16) {
        if (Simd.ENABLED) {
            axpyRowVector(out, outOff, p, seg, rowOff, n, f16);
        } else {
            axpyRowScalar(out, outOff, p, seg, rowOff, n, f16);
        }
    }

    static void axpyRowVector(float[] out, int outOff, float p, MemorySegment seg, long rowOff, int n, boolean f16) {
        FloatVector pv = FloatVector.broadcast(F, p);
        int i = 0;
        if (f16) {
            for (int bound = n - FL; i <= bound; i += FL) {
                FloatVector v = ((IntVector) ShortVector.fromMemorySegment(S, seg, rowOff + 2L * i, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(HALF_BITS).reinterpretAsFloats().mul(HALF_SCALE);
                v.fma(pv, FloatVector.fromArray(F, out, outOff + i)).intoArray(out, outOff + i);
            }
        } else {
            for (int bound = n - FL; i <= bound; i += FL) {
                FloatVector.fromMemorySegment(F, seg, rowOff + 4L * i, LE).fma(pv, FloatVector.fromArray(F, out, outOff + i))
                        .intoArray(out, outOff + i);
            }
        }
        for (; i < n; i++) {
            out[outOff + i] = Math.fma(element(seg, rowOff, i, f16), p, out[outOff + i]);
        }
    }

    static void axpyRowScalar(float[] out, int outOff, float p, MemorySegment seg, long rowOff, int n, boolean f16) {
        for (int i = 0; i < n; i++) {
            out[outOff + i] = Math.fma(element(seg, rowOff, i, f16), p, out[outOff + i]);
        }
    }

    private static float element(MemorySegment seg, long rowOff, int i, boolean f16) {
        return f16 ? Simd.half(seg, rowOff + 2L * i) : seg.get(F32_LE, rowOff + 4L * i);
    }

    /** Stores {@code n} floats of {@code src} at byte {@code off} of {@code seg} as F32 or F16 (round to nearest even). */
    public static void storeRow(float[] src, int srcOff, MemorySegment seg, long off, int n, boolean f16) {
        if (f16) {
            for (int i = 0; i < n; i++) {
                seg.set(Simd.I16_LE, off + 2L * i, Float.floatToFloat16(src[srcOff + i]));
            }
        } else {
            MemorySegment.copy(src, srcOff, seg, F32_LE, off, n);
        }
    }
}
