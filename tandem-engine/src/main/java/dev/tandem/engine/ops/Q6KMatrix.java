package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.B;
import static dev.tandem.engine.ops.Simd.BYTE_LOAD;
import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.FL;
import static dev.tandem.engine.ops.Simd.LE;
import static dev.tandem.engine.ops.Simd.PARTS;

import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
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
 *   w = d * scale * (q6 - 32)
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

    Q6KMatrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q6_K, data, rows, cols);
    }

    @Override
    float dotVector(int row, float[] x, int xOff) {
        MemorySegment seg = data;
        long off = row * rowBytes;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int b = 0; b < cols / BLOCK; b++, off += BLOCK_BYTES) {
            float d = Simd.half(seg, off + D_OFFSET);
            for (int h = 0; h < 2; h++) {
                long ql = off + QL_OFFSET + 64 * h;
                long qhOff = off + QH_OFFSET + 32 * h;
                long sc = off + SCALES_OFFSET + 8 * h;
                int xi = xOff + b * BLOCK + 128 * h;
                for (int l = 0; l < 32; l += BYTE_LOAD) {
                    ByteVector ql0 = ByteVector.fromMemorySegment(B, seg, ql + l, LE);
                    ByteVector ql32 = ByteVector.fromMemorySegment(B, seg, ql + 32 + l, LE);
                    ByteVector qh = ByteVector.fromMemorySegment(B, seg, qhOff + l, LE);
                    int is = l / 16;
                    for (int k = 0; k < 4; k++) {
                        // 6-bit quant of element 32k + l of this half, re-centred (see the layout above)
                        ByteVector lowBits = (k & 1) == 0 ? ql0 : ql32;
                        lowBits = k < 2 ? lowBits.and((byte) 15) : lowBits.lanewise(VectorOperators.LSHR, 4);
                        ByteVector q = lowBits.or(qh.lanewise(VectorOperators.LSHR, 2 * k).and((byte) 3)
                                .lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
                        FloatVector scale = FloatVector.broadcast(F, d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 2 * k));
                        for (int p = 0; p < PARTS; p++) {
                            FloatVector w = ((FloatVector) q.convertShape(VectorOperators.B2F, F, p)).mul(scale);
                            FloatVector xv = FloatVector.fromArray(F, x, xi + 32 * k + l + p * FL);
                            if ((k & 1) == 0) {
                                acc0 = w.fma(xv, acc0);
                            } else {
                                acc1 = w.fma(xv, acc1);
                            }
                        }
                    }
                }
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /** The 6-bit quant (re-centred) of element {@code 32k + l} of half {@code h} of the block at {@code off}. */
    private static int quant(MemorySegment seg, long off, int h, int k, int l) {
        int ql = seg.get(ValueLayout.JAVA_BYTE, off + QL_OFFSET + 64 * h + l + 32 * (k & 1)) & 0xFF;
        int qh = seg.get(ValueLayout.JAVA_BYTE, off + QH_OFFSET + 32 * h + l) & 0xFF;
        int low = k < 2 ? ql & 15 : ql >> 4;
        return (low | ((qh >> (2 * k)) & 3) << 4) - 32;
    }

    @Override
    float dotScalar(int row, float[] x, int xOff) {
        MemorySegment seg = data;
        long off = row * rowBytes;
        float sum = 0f;
        for (int b = 0; b < cols / BLOCK; b++, off += BLOCK_BYTES) {
            float d = Simd.half(seg, off + D_OFFSET);
            for (int h = 0; h < 2; h++) {
                for (int k = 0; k < 4; k++) {
                    for (int l = 0; l < 32; l++) {
                        float scale = d * seg.get(ValueLayout.JAVA_BYTE, off + SCALES_OFFSET + 8 * h + l / 16 + 2 * k);
                        sum += scale * quant(seg, off, h, k, l) * x[xOff + b * BLOCK + 128 * h + 32 * k + l];
                    }
                }
            }
        }
        return sum;
    }

    @Override
    void dequantizeVector(int row, int col, int count, float[] out, int off) {
        MemorySegment seg = data;
        long blockOff = row * rowBytes + (long) (col / BLOCK) * BLOCK_BYTES;
        for (int b = 0; b < count / BLOCK; b++, blockOff += BLOCK_BYTES) {
            float d = Simd.half(seg, blockOff + D_OFFSET);
            for (int h = 0; h < 2; h++) {
                long ql = blockOff + QL_OFFSET + 64 * h;
                long qhOff = blockOff + QH_OFFSET + 32 * h;
                long sc = blockOff + SCALES_OFFSET + 8 * h;
                int o = off + b * BLOCK + 128 * h;
                for (int l = 0; l < 32; l += BYTE_LOAD) {
                    ByteVector ql0 = ByteVector.fromMemorySegment(B, seg, ql + l, LE);
                    ByteVector ql32 = ByteVector.fromMemorySegment(B, seg, ql + 32 + l, LE);
                    ByteVector qh = ByteVector.fromMemorySegment(B, seg, qhOff + l, LE);
                    int is = l / 16;
                    for (int k = 0; k < 4; k++) {
                        // 6-bit quant of element 32k + l of this half, re-centred (see the layout above)
                        ByteVector lowBits = (k & 1) == 0 ? ql0 : ql32;
                        lowBits = k < 2 ? lowBits.and((byte) 15) : lowBits.lanewise(VectorOperators.LSHR, 4);
                        ByteVector q = lowBits.or(qh.lanewise(VectorOperators.LSHR, 2 * k).and((byte) 3)
                                .lanewise(VectorOperators.LSHL, 4)).sub((byte) 32);
                        FloatVector scale = FloatVector.broadcast(F, d * seg.get(ValueLayout.JAVA_BYTE, sc + is + 2 * k));
                        for (int p = 0; p < PARTS; p++) {
                            ((FloatVector) q.convertShape(VectorOperators.B2F, F, p)).mul(scale)
                                    .intoArray(out, o + 32 * k + l + p * FL);
                        }
                    }
                }
            }
        }
    }

    @Override
    void dequantizeScalar(int row, int col, int count, float[] out, int off) {
        MemorySegment seg = data;
        long blockOff = row * rowBytes + (long) (col / BLOCK) * BLOCK_BYTES;
        for (int b = 0; b < count / BLOCK; b++, blockOff += BLOCK_BYTES) {
            float d = Simd.half(seg, blockOff + D_OFFSET);
            for (int h = 0; h < 2; h++) {
                for (int k = 0; k < 4; k++) {
                    for (int l = 0; l < 32; l++) {
                        float scale = d * seg.get(ValueLayout.JAVA_BYTE, blockOff + SCALES_OFFSET + 8 * h + l / 16 + 2 * k);
                        out[off + b * BLOCK + 128 * h + 32 * k + l] = scale * quant(seg, blockOff, h, k, l);
                    }
                }
            }
        }
    }
}
