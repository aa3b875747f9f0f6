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
 * Q4_K weights, super-blocks of 256 elements in 144 bytes (ggml's {@code block_q4_K}): eight
 * sub-blocks of 32, each with a 6-bit scale and a 6-bit min.
 * <pre>
 * | d f16 | dmin f16 | scales u8[12] | qs u8[128] |
 *   0       2          4               16            block size = 2 + 2 + 12 + 128 = 144 bytes
 *
 * sub-block j = 0..7: scale sc[j] and min m[j], 6 bits each, packed in the 12 scale bytes s[]:
 *   j &lt; 4:  sc = s[j] &amp; 63                            m = s[j+4] &amp; 63
 *   j &ge; 4:  sc = (s[j+4] &amp; 15) | (s[j-4] &gt;&gt; 6) &lt;&lt; 4    m = (s[j+4] &gt;&gt; 4) | (s[j] &gt;&gt; 6) &lt;&lt; 4
 * chunk c = 0..3 covers elements 64c .. 64c+63 with quant bytes qs[32c .. 32c+31]:
 *   w[64c + l]      = d * sc[2c]   * (qs[32c+l] &amp; 15) - dmin * m[2c]       l = 0..31
 *   w[64c + 32 + l] = d * sc[2c+1] * (qs[32c+l] &gt;&gt; 4) - dmin * m[2c+1]
 * </pre>
 *
 * <p>Thread ownership: immutable; safe for concurrent use.
 */
final class Q4KMatrix extends WeightMatrix {
    static final int BLOCK = 256;
    static final int D_OFFSET = 0;
    static final int DMIN_OFFSET = D_OFFSET + Short.BYTES;
    static final int SCALES_OFFSET = DMIN_OFFSET + Short.BYTES;
    static final int QS_OFFSET = SCALES_OFFSET + 12;
    static final int BLOCK_BYTES = QS_OFFSET + BLOCK / 2;

    Q4KMatrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q4_K, data, rows, cols);
    }

    /** 6-bit scale of sub-block {@code j} of the super-block at {@code off}. */
    static int scale(MemorySegment seg, long off, int j) {
        long s = off + SCALES_OFFSET;
        return j < 4 ? u8(seg, s + j) & 63 : (u8(seg, s + j + 4) & 15) | (u8(seg, s + j - 4) >> 6) << 4;
    }

    /** 6-bit min of sub-block {@code j} of the super-block at {@code off}. */
    static int min(MemorySegment seg, long off, int j) {
        long s = off + SCALES_OFFSET;
        return j < 4 ? u8(seg, s + j + 4) & 63 : (u8(seg, s + j + 4) >> 4) | (u8(seg, s + j) >> 6) << 4;
    }

    private static int u8(MemorySegment seg, long off) {
        return seg.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
    }

    /** Dequantises each 32-element sub-block in registers (w = q * d*sc - dmin*m) and multiplies with x. */
    @Override
    float dotVector(int row, float[] x, int xOff) {
        MemorySegment seg = data;
        long off = row * rowBytes;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int b = 0; b < cols / BLOCK; b++, off += BLOCK_BYTES) {
            float d = Simd.half(seg, off + D_OFFSET);
            float dmin = Simd.half(seg, off + DMIN_OFFSET);
            for (int c = 0; c < 4; c++) {
                FloatVector scaleLow = FloatVector.broadcast(F, d * scale(seg, off, 2 * c));
                FloatVector minLow = FloatVector.broadcast(F, -dmin * min(seg, off, 2 * c));
                FloatVector scaleHigh = FloatVector.broadcast(F, d * scale(seg, off, 2 * c + 1));
                FloatVector minHigh = FloatVector.broadcast(F, -dmin * min(seg, off, 2 * c + 1));
                int xi = xOff + b * BLOCK + 64 * c;
                for (int l = 0; l < 32; l += BYTE_LOAD) {
                    ByteVector q = ByteVector.fromMemorySegment(B, seg, off + QS_OFFSET + 32 * c + l, LE);
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
        MemorySegment seg = data;
        long off = row * rowBytes;
        float sum = 0f;
        for (int b = 0; b < cols / BLOCK; b++, off += BLOCK_BYTES) {
            float d = Simd.half(seg, off + D_OFFSET);
            float dmin = Simd.half(seg, off + DMIN_OFFSET);
            for (int c = 0; c < 4; c++) {
                float scaleLow = d * scale(seg, off, 2 * c);
                float minLow = dmin * min(seg, off, 2 * c);
                float scaleHigh = d * scale(seg, off, 2 * c + 1);
                float minHigh = dmin * min(seg, off, 2 * c + 1);
                int xi = xOff + b * BLOCK + 64 * c;
                for (int l = 0; l < 32; l++) {
                    int q = u8(seg, off + QS_OFFSET + 32 * c + l);
                    sum += Math.fma(q & 15, scaleLow, -minLow) * x[xi + l] + Math.fma(q >> 4, scaleHigh, -minHigh) * x[xi + 32 + l];
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
            float dmin = Simd.half(seg, blockOff + DMIN_OFFSET);
            for (int c = 0; c < 4; c++) {
                FloatVector scaleLow = FloatVector.broadcast(F, d * scale(seg, blockOff, 2 * c));
                FloatVector minLow = FloatVector.broadcast(F, -dmin * min(seg, blockOff, 2 * c));
                FloatVector scaleHigh = FloatVector.broadcast(F, d * scale(seg, blockOff, 2 * c + 1));
                FloatVector minHigh = FloatVector.broadcast(F, -dmin * min(seg, blockOff, 2 * c + 1));
                int o = off + b * BLOCK + 64 * c;
                for (int l = 0; l < 32; l += BYTE_LOAD) {
                    ByteVector q = ByteVector.fromMemorySegment(B, seg, blockOff + QS_OFFSET + 32 * c + l, LE);
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
        MemorySegment seg = data;
        long blockOff = row * rowBytes + (long) (col / BLOCK) * BLOCK_BYTES;
        for (int b = 0; b < count / BLOCK; b++, blockOff += BLOCK_BYTES) {
            float d = Simd.half(seg, blockOff + D_OFFSET);
            float dmin = Simd.half(seg, blockOff + DMIN_OFFSET);
            for (int c = 0; c < 4; c++) {
                float scaleLow = d * scale(seg, blockOff, 2 * c);
                float minLow = dmin * min(seg, blockOff, 2 * c);
                float scaleHigh = d * scale(seg, blockOff, 2 * c + 1);
                float minHigh = dmin * min(seg, blockOff, 2 * c + 1);
                int o = off + b * BLOCK + 64 * c;
                for (int l = 0; l < 32; l++) {
                    int q = u8(seg, blockOff + QS_OFFSET + 32 * c + l);
                    out[o + l] = Math.fma(q & 15, scaleLow, -minLow);
                    out[o + 32 + l] = Math.fma(q >> 4, scaleHigh, -minHigh);
                }
            }
        }
    }
}
