package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.B;
import static dev.tandem.engine.ops.Simd.B4;
import static dev.tandem.engine.ops.Simd.BYTE_LOAD;
import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.FL;
import static dev.tandem.engine.ops.Simd.I;
import static dev.tandem.engine.ops.Simd.PARTS;
import static dev.tandem.engine.ops.Simd.F4;
import static dev.tandem.engine.ops.Simd.Q4_LANES;
import static dev.tandem.engine.ops.Simd.S4;

import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q4_0 weights. In the GGUF file: blocks of 32 elements in 18 bytes (ggml's {@code block_q4_0}):
 * <pre>
 * | d f16 (2 bytes) | qs u8[16] |          offset 0, offset 2; block size = 2 + 16 = 18 bytes
 * w[j]      = d * ((qs[j] &amp; 0x0F) - 8)     j = 0..15   (low nibbles: first half of the block)
 * w[j + 16] = d * ((qs[j] &gt;&gt; 4)   - 8)     j = 0..15   (high nibbles: second half)
 * </pre>
 * Repacked at construction, as {@link Q8_0Matrix}, into heap arrays the kernels read:
 * <pre>
 * qs     byte[rows * cols / 2]    the 16 nibble bytes of block b of row r at (r * cols / 32 + b) * 16
 * scales float[rows * cols / 32]  d of block b of row r at r * cols / 32 + b
 * </pre>
 *
 * <p>Thread ownership: immutable; safe for concurrent use.
 */
final class Q4_0Matrix extends WeightMatrix {
    static final int BLOCK = 32;
    static final int BLOCK_BYTES = Short.BYTES + BLOCK / 2;
    static final int QS_OFFSET = Short.BYTES;
    private static final int QS_PER_BLOCK = BLOCK / 2;

    private final byte[] qs;      // [rows * cols / 2] nibble pairs, block by block
    private final float[] scales; // [rows * cols / 32]

    Q4_0Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q4_0, data, rows, cols);
        long blocks = (long) rows * cols / BLOCK;
        if (blocks * QS_PER_BLOCK > Integer.MAX_VALUE - 16) {
            throw new dev.tandem.core.ModelFormatException("Q4_0 matrix of " + rows + " x " + cols
                    + " is too large for one array");
        }
        qs = new byte[(int) blocks * QS_PER_BLOCK];
        scales = new float[(int) blocks];
        for (int b = 0; b < blocks; b++) {
            long off = (long) b * BLOCK_BYTES;
            scales[b] = Simd.half(data, off);
            MemorySegment.copy(data, ValueLayout.JAVA_BYTE, off + QS_OFFSET, qs, b * QS_PER_BLOCK, QS_PER_BLOCK);
        }
    }

    /** As {@link Q8_0Matrix#dotVector} (one method, see there), with the nibbles split and re-centred in byte lanes. */
    @Override
    float dotVector(int row, float[] x, int xOff) {
        float[] ws = scales;
        byte[] w = qs;
        int blocks = cols / BLOCK;
        int si = row * blocks;
        int wi = si * QS_PER_BLOCK;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            int xi = xOff + b * BLOCK;
            int wb = wi + b * QS_PER_BLOCK;
            FloatVector low = FloatVector.zero(F);
            FloatVector high = FloatVector.zero(F);
            for (int j = 0; j < QS_PER_BLOCK; j += BYTE_LOAD) {
                ByteVector q = ByteVector.fromArray(B, w, wb + j);
                ByteVector ql = q.and((byte) 0x0F).sub((byte) 8);
                ByteVector qh = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
                for (int p = 0; p < PARTS; p++) {
                    low = ((FloatVector) ql.convertShape(VectorOperators.B2F, F, p))
                            .fma(FloatVector.fromArray(F, x, xi + j + p * FL), low);
                    high = ((FloatVector) qh.convertShape(VectorOperators.B2F, F, p))
                            .fma(FloatVector.fromArray(F, x, xi + QS_PER_BLOCK + j + p * FL), high);
                }
            }
            FloatVector d = FloatVector.broadcast(F, ws[si + b]);
            if ((b & 1) == 0) {
                acc0 = low.add(high).fma(d, acc0);
            } else {
                acc1 = low.add(high).fma(d, acc1);
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    @Override
    public boolean hasQ8Dot() {
        return true;
    }

    /**
     * Integer dot with Q8 activations, as {@link Q8_0Matrix#dotQ8Vector}: the 16 quant bytes of
     * a block are zero-extended to 16-bit lanes (where AVX2 can shift), split into low nibbles
     * (elements 0..15) and high nibbles (16..31), each in 0..15, multiplied with the matching
     * activation quants and added per lane (|sum| &le; 2 * 15 * 127); lane pairs are summed into
     * ints, converted and scaled by d_w * d_x. The nibbles' -8 offset is folded in once per row
     * from the activation block sums: sum (n - 8) q = sum n q - 8 sum q, so the row's offset is
     * 8 * sum_b d_w[b] d_x[b] sum_q[b], computed after the main loop in one vector pass over the
     * blocks (FL blocks per step) instead of scalar work in every block (as llama.cpp's
     * block_q8_1 carries d * sum q for the same purpose).
     */
    @Override
    float dotQ8Vector(int row, short[] q, int qOff, float[] xScales, int[] xSums, int sOff) {
        int blocks = cols / BLOCK;
        return dotQ8Kernel(qs, scales, row * blocks, blocks, q, qOff, xScales, sOff)
                - 8f * offsetSum(scales, row * blocks, blocks, xScales, xSums, sOff);
    }

    /**
     * The block products of {@link #dotQ8Vector} without the -8 offset (static: C2 compiles it as
     * a tight leaf), in vectors of {@link Simd#Q4_LANES} 16-bit lanes: one load covers a block's
     * 16 nibble bytes at 256 bits and more (so this kernel runs at 256 bits on 512-bit machines),
     * two at 128 bits.
     */
    private static float dotQ8Kernel(byte[] w, float[] ws, int si, int blocks, short[] q, int qOff, float[] xScales,
                                     int sOff) {
        final int lanes = Q4_LANES;
        int wi = si * QS_PER_BLOCK;
        FloatVector acc0 = FloatVector.zero(F4);
        FloatVector acc1 = FloatVector.zero(F4);
        int b = 0;
        // Every index is an affine function of b alone, so C2 hoists the bounds checks.
        for (; b + 1 < blocks; b += 2) {
            int qi = qOff + b * BLOCK;
            int wb = wi + b * QS_PER_BLOCK;
            ShortVector p0 = ShortVector.zero(S4);
            ShortVector p1 = ShortVector.zero(S4);
            for (int j = 0; j < QS_PER_BLOCK; j += lanes) {
                ShortVector n0 = (ShortVector) ByteVector.fromArray(B4, w, wb + j)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2S, S4, 0);
                ShortVector n1 = (ShortVector) ByteVector.fromArray(B4, w, wb + QS_PER_BLOCK + j)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2S, S4, 0);
                p0 = p0.add(n0.and((short) 0x0F).mul(ShortVector.fromArray(S4, q, qi + j)))
                        .add(n0.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S4, q, qi + QS_PER_BLOCK + j)));
                p1 = p1.add(n1.and((short) 0x0F).mul(ShortVector.fromArray(S4, q, qi + BLOCK + j)))
                        .add(n1.lanewise(VectorOperators.LSHR, 4)
                                .mul(ShortVector.fromArray(S4, q, qi + BLOCK + QS_PER_BLOCK + j)));
            }
            IntVector i0 = p0.reinterpretAsInts();
            IntVector i1 = p1.reinterpretAsInts();
            // lane-pair sums (see Q8_0Matrix.dotQ8Vector); |pair sum| <= 8 * 15 * 127
            IntVector sum0 = i0.add(i0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
            IntVector sum1 = i1.add(i1.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
            float d0 = ws[si + b] * xScales[sOff + b];
            float d1 = ws[si + b + 1] * xScales[sOff + b + 1];
            acc0 = ((FloatVector) sum0.convertShape(VectorOperators.I2F, F4, 0)).fma(FloatVector.broadcast(F4, d0), acc0);
            acc1 = ((FloatVector) sum1.convertShape(VectorOperators.I2F, F4, 0)).fma(FloatVector.broadcast(F4, d1), acc1);
        }
        if (b < blocks) {
            int qi = qOff + b * BLOCK;
            int wb = wi + b * QS_PER_BLOCK;
            ShortVector p0 = ShortVector.zero(S4);
            for (int j = 0; j < QS_PER_BLOCK; j += lanes) {
                ShortVector n0 = (ShortVector) ByteVector.fromArray(B4, w, wb + j)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2S, S4, 0);
                p0 = p0.add(n0.and((short) 0x0F).mul(ShortVector.fromArray(S4, q, qi + j)))
                        .add(n0.lanewise(VectorOperators.LSHR, 4).mul(ShortVector.fromArray(S4, q, qi + QS_PER_BLOCK + j)));
            }
            IntVector i0 = p0.reinterpretAsInts();
            IntVector sum0 = i0.add(i0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
            float d0 = ws[si + b] * xScales[sOff + b];
            acc0 = ((FloatVector) sum0.convertShape(VectorOperators.I2F, F4, 0)).fma(FloatVector.broadcast(F4, d0), acc0);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /** {@code sum_b d_w[b] * d_x[b] * sum_q[b]} over a row's blocks, FL blocks per vector step. */
    private static float offsetSum(float[] ws, int si, int blocks, float[] xScales, int[] xSums, int sOff) {
        FloatVector acc = FloatVector.zero(F);
        int b = 0;
        for (; b + FL <= blocks; b += FL) {
            FloatVector xs = ((FloatVector) IntVector.fromArray(I, xSums, sOff + b).convertShape(VectorOperators.I2F, F, 0))
                    .mul(FloatVector.fromArray(F, xScales, sOff + b));
            acc = FloatVector.fromArray(F, ws, si + b).fma(xs, acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; b < blocks; b++) {
            sum += ws[si + b] * xScales[sOff + b] * xSums[sOff + b];
        }
        return sum;
    }

    @Override
    float dotQ8Scalar(int row, short[] q, int qOff, float[] xScales, int[] xSums, int sOff) {
        int blocks = cols / BLOCK;
        int si = row * blocks;
        float sum = 0f;
        for (int b = 0; b < blocks; b++) {
            int wi = (si + b) * QS_PER_BLOCK;
            int qi = qOff + b * BLOCK;
            int blockSum = 0;
            for (int j = 0; j < QS_PER_BLOCK; j++) {
                int w = qs[wi + j] & 0xFF;
                blockSum += ((w & 0x0F) - 8) * q[qi + j] + ((w >>> 4) - 8) * q[qi + QS_PER_BLOCK + j];
            }
            sum += blockSum * (scales[si + b] * xScales[sOff + b]);
        }
        return sum;
    }

    @Override
    float dotScalar(int row, float[] x, int xOff) {
        int blocks = cols / BLOCK;
        int si = row * blocks;
        float sum = 0f;
        for (int b = 0; b < blocks; b++) {
            int wi = (si + b) * QS_PER_BLOCK;
            int xi = xOff + b * BLOCK;
            float blockSum = 0f;
            for (int j = 0; j < QS_PER_BLOCK; j++) {
                int w = qs[wi + j] & 0xFF;
                blockSum += ((w & 0x0F) - 8) * x[xi + j] + ((w >>> 4) - 8) * x[xi + QS_PER_BLOCK + j];
            }
            sum += scales[si + b] * blockSum;
        }
        return sum;
    }

    @Override
    void dequantizeVector(int row, int col, int count, float[] out, int off) {
        int si = row * (cols / BLOCK) + col / BLOCK;
        for (int b = 0; b < count / BLOCK; b++) {
            FloatVector d = FloatVector.broadcast(F, scales[si + b]);
            int wi = (si + b) * QS_PER_BLOCK;
            int o = off + b * BLOCK;
            for (int j = 0; j < QS_PER_BLOCK; j += BYTE_LOAD) {
                ByteVector q = ByteVector.fromArray(B, qs, wi + j);
                ByteVector low = q.and((byte) 0x0F).sub((byte) 8);
                ByteVector high = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
                for (int p = 0; p < PARTS; p++) {
                    ((FloatVector) low.convertShape(VectorOperators.B2F, F, p)).mul(d).intoArray(out, o + j + p * FL);
                    ((FloatVector) high.convertShape(VectorOperators.B2F, F, p)).mul(d)
                            .intoArray(out, o + QS_PER_BLOCK + j + p * FL);
                }
            }
        }
    }

    @Override
    void dequantizeScalar(int row, int col, int count, float[] out, int off) {
        int si = row * (cols / BLOCK) + col / BLOCK;
        for (int b = 0; b < count / BLOCK; b++) {
            float d = scales[si + b];
            int wi = (si + b) * QS_PER_BLOCK;
            int o = off + b * BLOCK;
            for (int j = 0; j < QS_PER_BLOCK; j++) {
                int q = qs[wi + j] & 0xFF;
                out[o + j] = d * ((q & 0x0F) - 8);
                out[o + j + QS_PER_BLOCK] = d * ((q >>> 4) - 8);
            }
        }
    }
}
