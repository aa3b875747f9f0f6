package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.B;
import static dev.tandem.engine.ops.Simd.B4;
import static dev.tandem.engine.ops.Simd.BYTE_LOAD;
import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.F4;
import static dev.tandem.engine.ops.Simd.FL;
import static dev.tandem.engine.ops.Simd.PARTS;
import static dev.tandem.engine.ops.Simd.Q4_LANES;
import static dev.tandem.engine.ops.Simd.S4;

import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q6_K weights, super-blocks of 256 elements in 210 bytes (ggml's {@code block_q6_K}): 6-bit
 * quants split into 4 low bits and 2 high bits, sixteen int8 scales (one per 16 elements).
 * <pre>
 * | ql u8[128] | qh u8[64] | scales i8[16] | d f16 |
 *   0            128         192             208       block size = 128 + 64 + 16 + 2 = 210 bytes
 *
 * half h = 0, 1 covers elements 128h .. 128h+127 with ql' = ql[64h..], qh' = qh[32h..], sc' = scales[8h..];
 * for l = 0..31 and k = 0..3 (element 128h + 32k + l), with is = l / 16:
 *   k=0: (ql'[l]    &amp; 15) | ((qh'[l] &gt;&gt; 0) &amp; 3) &lt;&lt; 4     scale sc'[is]
 *   k=1: (ql'[l+32] &amp; 15) | ((qh'[l] &gt;&gt; 2) &amp; 3) &lt;&lt; 4     scale sc'[is+2]
 *   k=2: (ql'[l]    &gt;&gt; 4) | ((qh'[l] &gt;&gt; 4) &amp; 3) &lt;&lt; 4     scale sc'[is+4]
 *   k=3: (ql'[l+32] &gt;&gt; 4) | ((qh'[l] &gt;&gt; 6) &amp; 3) &lt;&lt; 4     scale sc'[is+6]
 *   w = d * scale * (q6 - 32); the scale of element e is scales[e / 16]
 * </pre>
 * Repacked at construction into heap arrays in element order, so that the kernels read plain
 * int8 quants as for {@link Q8_0Matrix} (277 bytes per 256 weights instead of 210; the 6-bit
 * unpacking is done once, not in every product):
 * <pre>
 * qs     byte[blocks * 256]   q6 - 32 (in -32..31) of element e of super-block k at 256k + e
 * sc     byte[blocks * 16]    the int8 scale of elements 16g .. 16g+15 of super-block k at 16k + g
 * d      float[blocks]
 * </pre>
 *
 * <p>Thread ownership: immutable; safe for concurrent use.
 */
final class Q6KMatrix extends WeightMatrix {
    static final int BLOCK = 256;
    static final int QL_OFFSET = 0;
    static final int QH_OFFSET = QL_OFFSET + BLOCK / 2;
    static final int SCALES_OFFSET = QH_OFFSET + BLOCK / 4;
    static final int D_OFFSET = SCALES_OFFSET + BLOCK / 16;
    static final int BLOCK_BYTES = D_OFFSET + Short.BYTES;
    private static final int GROUP = 16;

    private final byte[] qs;
    private final byte[] sc;
    private final float[] d;

    Q6KMatrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q6_K, data, rows, cols);
        long blocks = (long) rows * cols / BLOCK;
        if (blocks * BLOCK > Integer.MAX_VALUE - 16) {
            throw new ModelFormatException("Q6_K matrix of " + rows + " x " + cols + " is too large for one array");
        }
        int n = (int) blocks;
        qs = new byte[n * BLOCK];
        sc = new byte[n * GROUP];
        d = new float[n];
        for (int k = 0; k < n; k++) {
            long off = (long) k * BLOCK_BYTES;
            d[k] = Simd.half(data, off + D_OFFSET);
            MemorySegment.copy(data, ValueLayout.JAVA_BYTE, off + SCALES_OFFSET, sc, k * GROUP, GROUP);
            for (int h = 0; h < 2; h++) {
                for (int q = 0; q < 4; q++) {
                    for (int l = 0; l < 32; l++) {
                        qs[k * BLOCK + 128 * h + 32 * q + l] = (byte) quant(data, off, h, q, l);
                    }
                }
            }
        }
    }

    /** The 6-bit quant (re-centred) of element {@code 32k + l} of half {@code h} of the block at {@code off}. */
    private static int quant(MemorySegment seg, long off, int h, int k, int l) {
        int ql = seg.get(ValueLayout.JAVA_BYTE, off + QL_OFFSET + 64 * h + l + 32 * (k & 1)) & 0xFF;
        int qh = seg.get(ValueLayout.JAVA_BYTE, off + QH_OFFSET + 32 * h + l) & 0xFF;
        int low = k < 2 ? ql & 15 : ql >> 4;
        return (low | ((qh >> (2 * k)) & 3) << 4) - 32;
    }

    /** Per 16-element group: the int8 quants widened to floats times x, then times d * scale. */
    @Override
    float dotVector(int row, float[] x, int xOff) {
        int groups = cols / GROUP;
        int g0 = row * groups;
        int k0 = row * (cols / BLOCK);
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int g = 0; g + 1 < groups; g += 2) {
            int qi = (g0 + g) * GROUP;
            int xi = xOff + g * GROUP;
            FloatVector s0 = FloatVector.zero(F);
            FloatVector s1 = FloatVector.zero(F);
            for (int j = 0; j < GROUP; j += BYTE_LOAD) {
                ByteVector q0 = ByteVector.fromArray(B, qs, qi + j);
                ByteVector q1 = ByteVector.fromArray(B, qs, qi + GROUP + j);
                for (int p = 0; p < PARTS; p++) {
                    s0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, F, p))
                            .fma(FloatVector.fromArray(F, x, xi + j + p * FL), s0);
                    s1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, F, p))
                            .fma(FloatVector.fromArray(F, x, xi + GROUP + j + p * FL), s1);
                }
            }
            float dk = d[k0 + g / 16];
            acc0 = s0.fma(FloatVector.broadcast(F, dk * sc[g0 + g]), acc0);
            acc1 = s1.fma(FloatVector.broadcast(F, dk * sc[g0 + g + 1]), acc1);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    @Override
    float dotScalar(int row, float[] x, int xOff) {
        int groups = cols / GROUP;
        float sum = 0f;
        for (int g = 0; g < groups; g++) {
            int gi = row * groups + g;
            float s = 0f;
            for (int l = 0; l < GROUP; l++) {
                s += qs[gi * GROUP + l] * x[xOff + g * GROUP + l];
            }
            sum += d[gi / 16] * sc[gi] * s;
        }
        return sum;
    }

    @Override
    public boolean hasQ8Dot() {
        return true;
    }

    /**
     * Integer dot with Q8 activations, in vectors of {@link Simd#Q4_LANES} 16-bit lanes (at most
     * 256 bits: one 16-element group, which has one scale, per load): the group's int8 quants
     * widened, times the activation quants (|product| &le; 32 * 127), lane pairs summed into ints
     * (see {@link Q8_0Matrix#dotQ8Vector}), converted and scaled by d * scale * d_x, where the
     * activation block of 32 covers two groups.
     */
    @Override
    float dotQ8Vector(int row, short[] q, int qOff, float[] xScales, int[] xSums, int sOff) {
        return dotQ8Kernel(qs, sc, d, row * (cols / GROUP), cols / GROUP, q, qOff, xScales, sOff);
    }

    private static float dotQ8Kernel(byte[] w, byte[] sc, float[] d, int g0, int groups, short[] q, int qOff,
                                     float[] xScales, int sOff) {
        final int lanes = Q4_LANES;
        FloatVector acc0 = FloatVector.zero(F4);
        FloatVector acc1 = FloatVector.zero(F4);
        for (int g = 0; g + 1 < groups; g += 2) {
            int wi = (g0 + g) * GROUP;
            int qi = qOff + g * GROUP;
            ShortVector p0 = ShortVector.zero(S4);
            ShortVector p1 = ShortVector.zero(S4);
            for (int j = 0; j < GROUP; j += lanes) {
                p0 = p0.add(((ShortVector) ByteVector.fromArray(B4, w, wi + j).convertShape(VectorOperators.B2S, S4, 0))
                        .mul(ShortVector.fromArray(S4, q, qi + j)));
                p1 = p1.add(((ShortVector) ByteVector.fromArray(B4, w, wi + GROUP + j)
                        .convertShape(VectorOperators.B2S, S4, 0)).mul(ShortVector.fromArray(S4, q, qi + GROUP + j)));
            }
            IntVector i0 = p0.reinterpretAsInts();
            IntVector i1 = p1.reinterpretAsInts();
            // |pair sum| <= 4 * 32 * 127 (two loads per group at 128 bits)
            IntVector s0 = i0.add(i0.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
            IntVector s1 = i1.add(i1.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);
            float f = d[(g0 + g) / 16] * xScales[sOff + g / 2];
            acc0 = ((FloatVector) s0.convertShape(VectorOperators.I2F, F4, 0)).fma(FloatVector.broadcast(F4, f * sc[g0 + g]), acc0);
            acc1 = ((FloatVector) s1.convertShape(VectorOperators.I2F, F4, 0))
                    .fma(FloatVector.broadcast(F4, f * sc[g0 + g + 1]), acc1);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    @Override
    float dotQ8Scalar(int row, short[] q, int qOff, float[] xScales, int[] xSums, int sOff) {
        int groups = cols / GROUP;
        float sum = 0f;
        for (int g = 0; g < groups; g++) {
            int gi = row * groups + g;
            int dot = 0;
            for (int l = 0; l < GROUP; l++) {
                dot += qs[gi * GROUP + l] * q[qOff + g * GROUP + l];
            }
            sum += d[gi / 16] * xScales[sOff + g / 2] * sc[gi] * dot;
        }
        return sum;
    }

    @Override
    void dequantizeVector(int row, int col, int count, float[] out, int off) {
        int gi0 = (row * cols + col) / GROUP;
        for (int g = 0; g < count / GROUP; g++) {
            int gi = gi0 + g;
            FloatVector scale = FloatVector.broadcast(F, d[gi / 16] * sc[gi]);
            for (int j = 0; j < GROUP; j += BYTE_LOAD) {
                ByteVector q = ByteVector.fromArray(B, qs, gi * GROUP + j);
                for (int p = 0; p < PARTS; p++) {
                    ((FloatVector) q.convertShape(VectorOperators.B2F, F, p)).mul(scale)
                            .intoArray(out, off + g * GROUP + j + p * FL);
                }
            }
        }
    }

    @Override
    void dequantizeScalar(int row, int col, int count, float[] out, int off) {
        int gi0 = (row * cols + col) / GROUP;
        for (int g = 0; g < count / GROUP; g++) {
            int gi = gi0 + g;
            float scale = d[gi / 16] * sc[gi];
            for (int l = 0; l < GROUP; l++) {
                out[off + g * GROUP + l] = scale * qs[gi * GROUP + l];
            }
        }
    }
}
