package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.B;
import static dev.tandem.engine.ops.Simd.B2;
import static dev.tandem.engine.ops.Simd.BYTE_LOAD;
import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.B8;
import static dev.tandem.engine.ops.Simd.FL;
import static dev.tandem.engine.ops.Simd.FM;
import static dev.tandem.engine.ops.Simd.IM;
import static dev.tandem.engine.ops.Simd.M8;
import static dev.tandem.engine.ops.Simd.PARTS;
import static dev.tandem.engine.ops.Simd.S2;

import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.BlockQ4_K;
import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q4_K weights, super-blocks of 256 elements in 144 bytes (ggml's {@code block_q4_K}, see
 * {@link BlockQ4_K}): eight sub-blocks of 32, each with a 6-bit scale and a 6-bit min.
 * <pre>
 * chunk c = 0..3 covers elements 64c .. 64c+63 with quant bytes qs[32c .. 32c+31]:
 *   w[64c + l]      = d * sc[2c]   * (qs[32c+l] &amp; 15) - dmin * m[2c]       l = 0..31
 *   w[64c + 32 + l] = d * sc[2c+1] * (qs[32c+l] &gt;&gt; 4) - dmin * m[2c+1]
 * </pre>
 * Repacked at construction, as {@link Q8_0Matrix}, into heap arrays with the 6-bit scales
 * unpacked (152 bytes per 256 weights instead of 144; no bit juggling in the kernels):
 * <pre>
 * qs     byte[blocks * 128]   quant bytes of super-block k at k * 128 (as in the file)
 * sm     byte[blocks * 16]    sc[0..7] then m[0..7] of super-block k at k * 16
 * dd     float[blocks * 2]    d, dmin of super-block k at 2k
 * </pre>
 *
 * <p>Thread ownership: immutable; safe for concurrent use.
 */
final class Q4KMatrix extends WeightMatrix {
    static final int BLOCK = 256;
    private static final int QS = BLOCK / 2;

    private final byte[] qs;
    private final byte[] sm;
    private final float[] dd;

    Q4KMatrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q4_K, data, rows, cols);
        long blocks = (long) rows * cols / BLOCK;
        if (blocks * QS > Integer.MAX_VALUE - 16) {
            throw new ModelFormatException("Q4_K matrix of " + rows + " x " + cols + " is too large for one array");
        }
        int n = (int) blocks;
        qs = new byte[n * QS];
        sm = new byte[n * 16];
        dd = new float[n * 2];
        for (int k = 0; k < n; k++) {
            long off = (long) k * BlockQ4_K.BYTES;
            dd[2 * k] = Simd.half(data, off + BlockQ4_K.D_OFFSET);
            dd[2 * k + 1] = Simd.half(data, off + BlockQ4_K.DMIN_OFFSET);
            for (int j = 0; j < 8; j++) {
                sm[16 * k + j] = (byte) BlockQ4_K.scale(data, off, j);
                sm[16 * k + 8 + j] = (byte) BlockQ4_K.min(data, off, j);
            }
            MemorySegment.copy(data, ValueLayout.JAVA_BYTE, off + BlockQ4_K.QS_OFFSET, qs, k * QS, QS);
        }
    }

    /** Dequantises each 32-element sub-block in registers (w = q * d*sc - dmin*m) and multiplies with x. */
    @Override
    float dotVector(int row, float[] x, int xOff) {
        int blocks = cols / BLOCK;
        int k0 = row * blocks;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            int k = k0 + b;
            float d = dd[2 * k];
            float dmin = dd[2 * k + 1];
            for (int c = 0; c < 4; c++) {
                FloatVector scaleLow = FloatVector.broadcast(F, d * sm[16 * k + 2 * c]);
                FloatVector minLow = FloatVector.broadcast(F, -dmin * sm[16 * k + 8 + 2 * c]);
                FloatVector scaleHigh = FloatVector.broadcast(F, d * sm[16 * k + 2 * c + 1]);
                FloatVector minHigh = FloatVector.broadcast(F, -dmin * sm[16 * k + 8 + 2 * c + 1]);
                int xi = xOff + b * BLOCK + 64 * c;
                for (int l = 0; l < 32; l += BYTE_LOAD) {
                    ByteVector q = ByteVector.fromArray(B, qs, k * QS + 32 * c + l);
                    ByteVector low = q.and((byte) 0x0F);
                    ByteVector high = q.lanewise(VectorOperators.LSHR, 4);
                    for (int p = 0; p < PARTS; p++) {
                        FloatVector wl = ((FloatVector) low.convertShape(VectorOperators.B2F, F, p)).fma(scaleLow, minLow);
                        FloatVector wh = ((FloatVector) high.convertShape(VectorOperators.B2F, F, p)).fma(scaleHigh, minHigh);
                        acc0 = wl.fma(FloatVector.fromArray(F, x, xi + l + p * FL), acc0);
                        acc1 = wh.fma(FloatVector.fromArray(F, x, xi + 32 + l + p * FL), acc1);
                    }
                }
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    @Override
    float dotScalar(int row, float[] x, int xOff) {
        int blocks = cols / BLOCK;
        float sum = 0f;
        for (int b = 0; b < blocks; b++) {
            int k = row * blocks + b;
            for (int c = 0; c < 4; c++) {
                float scaleLow = dd[2 * k] * sm[16 * k + 2 * c];
                float minLow = dd[2 * k + 1] * sm[16 * k + 8 + 2 * c];
                float scaleHigh = dd[2 * k] * sm[16 * k + 2 * c + 1];
                float minHigh = dd[2 * k + 1] * sm[16 * k + 8 + 2 * c + 1];
                int xi = xOff + b * BLOCK + 64 * c;
                for (int l = 0; l < 32; l++) {
                    int q = qs[k * QS + 32 * c + l] & 0xFF;
                    sum += Math.fma(q & 15, scaleLow, -minLow) * x[xi + l] + Math.fma(q >> 4, scaleHigh, -minHigh) * x[xi + 32 + l];
                }
            }
        }
        return sum;
    }

    @Override
    public boolean hasQ8Dot() {
        return true;
    }

    /**
     * Integer dot with Q8 activations (one scale per 32 activations, so one per sub-block): per
     * 64-element chunk, the 32 quant bytes zero-extended to 16-bit lanes, low nibbles times the
     * first sub-block's activation quants and high nibbles times the second's, each summed per
     * lane (|lane| &le; 4 * 15 * 127), lane pairs summed into ints (see
     * {@link Q8_0Matrix#dotQ8Vector}), converted and scaled by d * sc * d_x. The mins are
     * folded in after the main loop, in one vector pass over the super-blocks (eight sub-blocks a
     * step; as scalar work in every block it cost a third of the kernel), from the activation
     * block sums:
     * {@code sum (d sc q - dmin m) x = d sc d_x sum q_w q_x - dmin m d_x sum q_x}.
     */
    @Override
    float dotQ8Vector(int row, short[] q, int qOff, float[] xScales, int[] xSums, int sOff) {
        return dotQ8Kernel(qs, sm, dd, row * (cols / BLOCK), cols / BLOCK, q, qOff, xScales, xSums, sOff);
    }

    private static float dotQ8Kernel(byte[] w, byte[] sm, float[] dd, int k0, int blocks, short[] q, int qOff,
                                     float[] xScales, int[] xSums, int sOff) {
        final int lanes = 2 * FL;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int b = 0; b < blocks; b++) {
            int k = k0 + b;
            float d = dd[2 * k];
            int qi = qOff + b * BLOCK;
            int a = sOff + 8 * b; // the activation block of sub-block 0
            for (int c = 0; c < 4; c++) {
                ShortVector pl = ShortVector.zero(S2);
                ShortVector ph = ShortVector.zero(S2);
                for (int j = 0; j < 32; j += lanes) {
                    // sign-extended (B2S compiles to one instruction at every width), so the high nibble is masked too
                    ShortVector n = (ShortVector) ByteVector.fromArray(B2, w, k * QS + 32 * c + j)
                            .convertShape(VectorOperators.B2S, S2, 0);
                    pl = pl.add(n.and((short) 0x0F).mul(ShortVector.fromArray(S2, q, qi + 64 * c + j)));
                    ph = ph.add(n.lanewise(VectorOperators.ASHR, 4).and((short) 0x0F)
                            .mul(ShortVector.fromArray(S2, q, qi + 64 * c + 32 + j)));
                }
                IntVector il = pl.reinterpretAsInts();
                IntVector ih = ph.reinterpretAsInts();
                IntVector sl = il.add(il.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
                IntVector sh = ih.add(ih.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
                float fl = d * sm[16 * k + 2 * c] * xScales[a + 2 * c];
                float fh = d * sm[16 * k + 2 * c + 1] * xScales[a + 2 * c + 1];
                acc0 = ((FloatVector) sl.convertShape(VectorOperators.I2F, F, 0)).fma(FloatVector.broadcast(F, fl), acc0);
                acc1 = ((FloatVector) sh.convertShape(VectorOperators.I2F, F, 0)).fma(FloatVector.broadcast(F, fh), acc1);
            }
        }
        // The mins, one vector pass over the super-blocks: sum_k dmin_k sum_j m_kj d_x[8k+j] sum_q[8k+j].
        FloatVector minAcc = FloatVector.zero(FM);
        for (int b = 0; b < blocks; b++) {
            int k = k0 + b;
            int a = sOff + 8 * b;
            ByteVector m = ByteVector.fromArray(B8, sm, 16 * k + 8);
            FloatVector dmin = FloatVector.broadcast(FM, dd[2 * k + 1]);
            for (int p = 0; p < 8 / M8; p++) {
                FloatVector xs = ((FloatVector) IntVector.fromArray(IM, xSums, a + p * M8).convertShape(VectorOperators.I2F, FM, 0))
                        .mul(FloatVector.fromArray(FM, xScales, a + p * M8));
                minAcc = ((FloatVector) m.convertShape(VectorOperators.B2F, FM, p)).mul(xs).fma(dmin, minAcc);
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD) - minAcc.reduceLanes(VectorOperators.ADD);
    }

    @Override
    float dotQ8Scalar(int row, short[] q, int qOff, float[] xScales, int[] xSums, int sOff) {
        int blocks = cols / BLOCK;
        float sum = 0f;
        for (int b = 0; b < blocks; b++) {
            int k = row * blocks + b;
            for (int j = 0; j < 8; j++) {
                int c = j / 2;
                int shift = (j & 1) * 4;
                int qi = qOff + b * BLOCK + 32 * j;
                int dot = 0;
                for (int l = 0; l < 32; l++) {
                    dot += ((qs[k * QS + 32 * c + l] & 0xFF) >> shift & 15) * q[qi + l];
                }
                int a = sOff + 8 * b + j;
                sum += dd[2 * k] * sm[16 * k + j] * xScales[a] * dot - dd[2 * k + 1] * sm[16 * k + 8 + j] * (xScales[a] * xSums[a]);
            }
        }
        return sum;
    }

    @Override
    void dequantizeVector(int row, int col, int count, float[] out, int off) {
        int k0 = row * (cols / BLOCK) + col / BLOCK;
        for (int b = 0; b < count / BLOCK; b++) {
            int k = k0 + b;
            float d = dd[2 * k];
            float dmin = dd[2 * k + 1];
            for (int c = 0; c < 4; c++) {
                FloatVector scaleLow = FloatVector.broadcast(F, d * sm[16 * k + 2 * c]);
                FloatVector minLow = FloatVector.broadcast(F, -dmin * sm[16 * k + 8 + 2 * c]);
                FloatVector scaleHigh = FloatVector.broadcast(F, d * sm[16 * k + 2 * c + 1]);
                FloatVector minHigh = FloatVector.broadcast(F, -dmin * sm[16 * k + 8 + 2 * c + 1]);
                int o = off + b * BLOCK + 64 * c;
                for (int l = 0; l < 32; l += BYTE_LOAD) {
                    ByteVector q = ByteVector.fromArray(B, qs, k * QS + 32 * c + l);
                    ByteVector low = q.and((byte) 0x0F);
                    ByteVector high = q.lanewise(VectorOperators.LSHR, 4);
                    for (int p = 0; p < PARTS; p++) {
                        ((FloatVector) low.convertShape(VectorOperators.B2F, F, p)).fma(scaleLow, minLow)
                                .intoArray(out, o + l + p * FL);
                        ((FloatVector) high.convertShape(VectorOperators.B2F, F, p)).fma(scaleHigh, minHigh)
                                .intoArray(out, o + 32 + l + p * FL);
                    }
                }
            }
        }
    }

    @Override
    void dequantizeScalar(int row, int col, int count, float[] out, int off) {
        int k0 = row * (cols / BLOCK) + col / BLOCK;
        for (int b = 0; b < count / BLOCK; b++) {
            int k = k0 + b;
            for (int c = 0; c < 4; c++) {
                float scaleLow = dd[2 * k] * sm[16 * k + 2 * c];
                float minLow = dd[2 * k + 1] * sm[16 * k + 8 + 2 * c];
                float scaleHigh = dd[2 * k] * sm[16 * k + 2 * c + 1];
                float minHigh = dd[2 * k + 1] * sm[16 * k + 8 + 2 * c + 1];
                int o = off + b * BLOCK + 64 * c;
                for (int l = 0; l < 32; l++) {
                    int q = qs[k * QS + 32 * c + l] & 0xFF;
                    out[o + l] = Math.fma(q & 15, scaleLow, -minLow);
                    out[o + 32 + l] = Math.fma(q >> 4, scaleHigh, -minHigh);
                }
            }
        }
    }
}
