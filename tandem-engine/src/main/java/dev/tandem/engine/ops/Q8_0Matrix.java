package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.B;
import static dev.tandem.engine.ops.Simd.B2;
import static dev.tandem.engine.ops.Simd.BYTE_LOAD;
import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.FL;
import static dev.tandem.engine.ops.Simd.I;
import static dev.tandem.engine.ops.Simd.PARTS;
import static dev.tandem.engine.ops.Simd.S2;

import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q8_0 weights. In the GGUF file: blocks of 32 elements in 34 bytes (ggml's {@code block_q8_0}):
 * <pre>
 * | d f16 (2 bytes) | qs int8[32] |        w[i] = d * qs[i],  i = 0..31
 *   offset 0          offset 2             block size = 2 + 32 = 34 bytes
 * </pre>
 * Repacked at construction into two heap arrays, which the kernels read:
 * <pre>
 * qs     byte[rows * cols]        quant k of row r at r * cols + k
 * scales float[rows * cols / 32]  d of block b of row r at r * cols / 32 + b (widened from f16)
 * </pre>
 * Measured (MatMulBenchmark) about 1.3x faster than reading the mapped blocks: quant loads are
 * plain array loads whose bounds checks C2 hoists, and scales need no f16 conversion. llama.cpp
 * likewise repacks weights at load for its kernels. The matrix then lives on the Java heap
 * (about 1.06 bytes per weight); the mapped file pages are no longer touched.
 *
 * <p>Thread ownership: immutable; safe for concurrent use.
 */
final class Q8_0Matrix extends WeightMatrix {
    static final int BLOCK = 32;
    static final int BLOCK_BYTES = Short.BYTES + BLOCK;
    static final int QS_OFFSET = Short.BYTES;

    private final byte[] qs;      // [rows * cols] int8 quants
    private final float[] scales; // [rows * cols / 32] block scales

    Q8_0Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q8_0, data, rows, cols);
        long blocks = (long) rows * cols / BLOCK;
        if ((long) rows * cols > Integer.MAX_VALUE - 16) {
            throw new dev.tandem.core.ModelFormatException("Q8_0 matrix of " + rows + " x " + cols
                    + " is too large for one array");
        }
        qs = new byte[rows * cols];
        scales = new float[(int) blocks];
        for (int b = 0; b < blocks; b++) {
            long off = (long) b * BLOCK_BYTES;
            scales[b] = Simd.half(data, off);
            MemorySegment.copy(data, ValueLayout.JAVA_BYTE, off + QS_OFFSET, qs, b * BLOCK, BLOCK);
        }
    }

    /**
     * Per block: widen the 32 int8 quants to floats in {@code BYTE_LOAD}-byte loads, multiply
     * with x into a block sum, then scale by d into one of two accumulators (two blocks per
     * iteration, so the accumulator chains do not serialise on the FMA latency). Everything is
     * in this one method: a vector passed to or returned from a call that C2 does not inline is
     * boxed, and the Vector API then falls back to plain Java (see docs/benchmarks.md).
     */
    @Override
    float dotVector(int row, float[] x, int xOff) {
        float[] ws = scales;
        byte[] q = qs;
        int qi = row * cols;
        int si = row * (cols / BLOCK);
        int blocks = cols / BLOCK;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int b = 0;
        for (; b + 1 < blocks; b += 2) {
            int xi = xOff + b * BLOCK;
            int qb = qi + b * BLOCK;
            FloatVector s0 = FloatVector.zero(F);
            FloatVector s1 = FloatVector.zero(F);
            for (int j = 0; j < BLOCK; j += BYTE_LOAD) {
                ByteVector q0 = ByteVector.fromArray(B, q, qb + j);
                ByteVector q1 = ByteVector.fromArray(B, q, qb + BLOCK + j);
                for (int p = 0; p < PARTS; p++) {
                    s0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, p))
                            .fma(FloatVector.fromArray(F, x, xi + j + p * FL), s0);
                    s1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, p))
                            .fma(FloatVector.fromArray(F, x, xi + BLOCK + j + p * FL), s1);
                }
            }
            acc0 = s0.fma(FloatVector.broadcast(F, ws[si + b]), acc0);
            acc1 = s1.fma(FloatVector.broadcast(F, ws[si + b + 1]), acc1);
        }
        if (b < blocks) {
            int xi = xOff + b * BLOCK;
            int qb = qi + b * BLOCK;
            FloatVector s0 = FloatVector.zero(F);
            for (int j = 0; j < BLOCK; j += BYTE_LOAD) {
                ByteVector q0 = ByteVector.fromArray(B, q, qb + j);
                for (int p = 0; p < PARTS; p++) {
                    s0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, p))
                            .fma(FloatVector.fromArray(F, x, xi + j + p * FL), s0);
                }
            }
            acc0 = s0.fma(FloatVector.broadcast(F, ws[si + b]), acc0);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    @Override
    public boolean hasQ8Dot() {
        return true;
    }

    /**
     * Integer dot with Q8 activations (see {@link Q8Activations}). Per block: 2 FL weight quants
     * widened to 16-bit lanes (B2S) times 2 FL activation quants; where a block holds more than
     * one such chunk (vectors of 256 bits and less) two chunk products are first added per lane
     * (|sum| &le; 32512). Adjacent lane pairs are then summed into FL int lanes by reading two
     * shorts as one int {@code i = hi << 16 | lo & 0xFFFF}: with one product per lane in three
     * operations, {@code (i + (i << 16)) >> 16 = hi + lo} (exact while |hi + lo| &le; 32767), with
     * two in four, {@code (i >> 16) + ((i << 16) >> 16)}. The sums are converted to float and
     * scaled by d_w * d_x. Two blocks
     * per iteration keep two accumulator chains; one method, as for {@link #dotVector}.
     * <pre>
     * FL = 16: w[0..32) x q[0..32)                          -&gt; 32 shorts -&gt; 16 ints -&gt; 16 floats
     * FL = 8:  w[0..16) x q[0..16) + w[16..32) x q[16..32)  -&gt; 16 shorts -&gt;  8 ints -&gt;  8 floats
     * FL = 4:  as FL = 8 in two steps of 8 + 8 quants        -&gt;  8 shorts -&gt;  4 ints -&gt;  4 floats
     * </pre>
     */
    @Override
    float dotQ8Vector(int row, short[] q, int qOff, float[] xScales, int[] xSums, int sOff) {
        return dotQ8Kernel(qs, scales, row * cols, row * (cols / BLOCK), cols / BLOCK, q, qOff, xScales, sOff);
    }

    /** The kernel of {@link #dotQ8Vector} on plain arguments (static: C2 compiles it as a tight leaf). */
    private static float dotQ8Kernel(byte[] w, float[] ws, int wi, int si, int blocks, short[] q, int qOff,
                                     float[] xScales, int sOff) {
        final int chunk = 2 * FL; // quants per 16-bit vector
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int b = 0;
        // Every index is an affine function of b alone, so C2 hoists the bounds checks.
        for (; b + 1 < blocks; b += 2) {
            int qi = qOff + b * BLOCK;
            int wb = wi + b * BLOCK;
            IntVector sum0 = IntVector.zero(I);
            IntVector sum1 = IntVector.zero(I);
            if (chunk == BLOCK) {
                IntVector i0 = ((ShortVector) ByteVector.fromArray(B2, w, wb).convertShape(VectorOperators.B2S, S2, 0))
                        .mul(ShortVector.fromArray(S2, q, qi)).reinterpretAsInts();
                IntVector i1 = ((ShortVector) ByteVector.fromArray(B2, w, wb + BLOCK)
                        .convertShape(VectorOperators.B2S, S2, 0)).mul(ShortVector.fromArray(S2, q, qi + BLOCK))
                        .reinterpretAsInts();
                sum0 = i0.add(i0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
                sum1 = i1.add(i1.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
            } else {
                for (int j = 0; j < BLOCK; j += 2 * chunk) {
                    IntVector i0 = ((ShortVector) ByteVector.fromArray(B2, w, wb + j)
                            .convertShape(VectorOperators.B2S, S2, 0)).mul(ShortVector.fromArray(S2, q, qi + j))
                            .add(((ShortVector) ByteVector.fromArray(B2, w, wb + j + chunk)
                                    .convertShape(VectorOperators.B2S, S2, 0))
                                    .mul(ShortVector.fromArray(S2, q, qi + j + chunk)))
                            .reinterpretAsInts();
                    IntVector i1 = ((ShortVector) ByteVector.fromArray(B2, w, wb + BLOCK + j)
                            .convertShape(VectorOperators.B2S, S2, 0)).mul(ShortVector.fromArray(S2, q, qi + BLOCK + j))
                            .add(((ShortVector) ByteVector.fromArray(B2, w, wb + BLOCK + j + chunk)
                                    .convertShape(VectorOperators.B2S, S2, 0))
                                    .mul(ShortVector.fromArray(S2, q, qi + BLOCK + j + chunk)))
                            .reinterpretAsInts();
                    // lanes hold two products each (|lane| <= 32512, a pair up to 65024): split, then add
                    sum0 = sum0.add(i0.lanewise(VectorOperators.ASHR, 16))
                            .add(i0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16));
                    sum1 = sum1.add(i1.lanewise(VectorOperators.ASHR, 16))
                            .add(i1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16));
                }
            }
            float d0 = ws[si + b] * xScales[sOff + b];
            float d1 = ws[si + b + 1] * xScales[sOff + b + 1];
            acc0 = ((FloatVector) sum0.convertShape(VectorOperators.I2F, F, 0)).fma(FloatVector.broadcast(F, d0), acc0);
            acc1 = ((FloatVector) sum1.convertShape(VectorOperators.I2F, F, 0)).fma(FloatVector.broadcast(F, d1), acc1);
        }
        if (b < blocks) {
            int qi = qOff + b * BLOCK;
            int wb = wi + b * BLOCK;
            IntVector sum0 = IntVector.zero(I);
            for (int j = 0; j < BLOCK; j += chunk) {
                IntVector i0 = ((ShortVector) ByteVector.fromArray(B2, w, wb + j).convertShape(VectorOperators.B2S, S2, 0))
                        .mul(ShortVector.fromArray(S2, q, qi + j)).reinterpretAsInts();
                sum0 = sum0.add(i0.add(i0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16));
            }
            float d0 = ws[si + b] * xScales[sOff + b];
            acc0 = ((FloatVector) sum0.convertShape(VectorOperators.I2F, F, 0)).fma(FloatVector.broadcast(F, d0), acc0);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    @Override
    float dotQ8Scalar(int row, short[] q, int qOff, float[] xScales, int[] xSums, int sOff) {
        int wi = row * cols;
        int si = row * (cols / BLOCK);
        float sum = 0f;
        for (int b = 0; b < cols / BLOCK; b++) {
            int blockSum = 0;
            for (int i = 0; i < BLOCK; i++) {
                blockSum += qs[wi + b * BLOCK + i] * q[qOff + b * BLOCK + i];
            }
            sum += blockSum * (scales[si + b] * xScales[sOff + b]);
        }
        return sum;
    }

    @Override
    float dotScalar(int row, float[] x, int xOff) {
        int wi = row * cols;
        int si = row * (cols / BLOCK);
        float sum = 0f;
        for (int b = 0; b < cols / BLOCK; b++) {
            float blockSum = 0f;
            for (int i = 0; i < BLOCK; i++) {
                blockSum += qs[wi + b * BLOCK + i] * x[xOff + b * BLOCK + i];
            }
            sum += scales[si + b] * blockSum;
        }
        return sum;
    }

    @Override
    void dequantizeVector(int row, int col, int count, float[] out, int off) {
        int wi = row * cols + col;
        int si = row * (cols / BLOCK) + col / BLOCK;
        for (int b = 0; b < count / BLOCK; b++) {
            FloatVector d = FloatVector.broadcast(F, scales[si + b]);
            for (int j = 0; j < BLOCK; j += BYTE_LOAD) {
                ByteVector q = ByteVector.fromArray(B, qs, wi + b * BLOCK + j);
                for (int p = 0; p < PARTS; p++) {
                    ((FloatVector) q.convertShape(VectorOperators.B2F, F, p)).mul(d)
                            .intoArray(out, off + b * BLOCK + j + p * FL);
                }
            }
        }
    }

    @Override
    void dequantizeScalar(int row, int col, int count, float[] out, int off) {
        int wi = row * cols + col;
        int si = row * (cols / BLOCK) + col / BLOCK;
        for (int b = 0; b < count / BLOCK; b++) {
            float d = scales[si + b];
            for (int i = 0; i < BLOCK; i++) {
                out[off + b * BLOCK + i] = d * qs[wi + b * BLOCK + i];
            }
        }
    }
}
