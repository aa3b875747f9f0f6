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
 * Q4_0 weights, blocks of 32 elements in 18 bytes (ggml's {@code block_q4_0}):
 * <pre>
 * | d f16 (2 bytes) | qs u8[16] |          offset 0, offset 2; block size = 2 + 16 = 18 bytes
 * w[j]      = d * ((qs[j] &amp; 0x0F) - 8)     j = 0..15   (low nibbles: first half of the block)
 * w[j + 16] = d * ((qs[j] &gt;&gt; 4)   - 8)     j = 0..15   (high nibbles: second half)
 * </pre>
 *
 * <p>Thread ownership: immutable; safe for concurrent use.
 */
final class Q4_0Matrix extends WeightMatrix {
    static final int BLOCK = 32;
    static final int BLOCK_BYTES = Short.BYTES + BLOCK / 2;
    static final int QS_OFFSET = Short.BYTES;

    Q4_0Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q4_0, data, rows, cols);
    }

    /** As {@link Q8_0Matrix#dotVector}, with the nibbles split and re-centred in byte lanes first. */
    @Override
    float dotVector(int row, float[] x, int xOff) {
        MemorySegment seg = data;
        long off = row * rowBytes;
        int blocks = cols / BLOCK;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int b = 0;
        for (; b + 1 < blocks; b += 2, off += 2 * BLOCK_BYTES) {
            int xi = xOff + b * BLOCK;
            acc0 = blockDot(seg, off, x, xi).fma(FloatVector.broadcast(F, Simd.half(seg, off)), acc0);
            acc1 = blockDot(seg, off + BLOCK_BYTES, x, xi + BLOCK)
                    .fma(FloatVector.broadcast(F, Simd.half(seg, off + BLOCK_BYTES)), acc1);
        }
        if (b < blocks) {
            acc0 = blockDot(seg, off, x, xOff + b * BLOCK).fma(FloatVector.broadcast(F, Simd.half(seg, off)), acc0);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /** Sum over one block of (q - 8) * x, lane-wise (unscaled). */
    private static FloatVector blockDot(MemorySegment seg, long off, float[] x, int xi) {
        FloatVector lowSum = FloatVector.zero(F);
        FloatVector highSum = FloatVector.zero(F);
        for (int j = 0; j < BLOCK / 2; j += BYTE_LOAD) {
            ByteVector q = ByteVector.fromMemorySegment(B, seg, off + QS_OFFSET + j, LE);
            ByteVector low = q.and((byte) 0x0F).sub((byte) 8);
            ByteVector high = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
            for (int p = 0; p < PARTS; p++) {
                FloatVector wl = (FloatVector) low.convertShape(VectorOperators.B2F, F, p);
                FloatVector wh = (FloatVector) high.convertShape(VectorOperators.B2F, F, p);
                lowSum = wl.fma(FloatVector.fromArray(F, x, xi + j + p * FL), lowSum);
                highSum = wh.fma(FloatVector.fromArray(F, x, xi + BLOCK / 2 + j + p * FL), highSum);
            }
        }
        return lowSum.add(highSum);
    }

    @Override
    float dotScalar(int row, float[] x, int xOff) {
        MemorySegment seg = data;
        long off = row * rowBytes;
        float sum = 0f;
        for (int b = 0; b < cols / BLOCK; b++, off += BLOCK_BYTES) {
            float d = Simd.half(seg, off);
            int xi = xOff + b * BLOCK;
            float blockSum = 0f;
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = seg.get(ValueLayout.JAVA_BYTE, off + QS_OFFSET + j) & 0xFF;
                blockSum += ((q & 0x0F) - 8) * x[xi + j] + ((q >>> 4) - 8) * x[xi + j + BLOCK / 2];
            }
            sum += d * blockSum;
        }
        return sum;
    }

    @Override
    void dequantizeVector(int row, int col, int count, float[] out, int off) {
        MemorySegment seg = data;
        long blockOff = row * rowBytes + (long) (col / BLOCK) * BLOCK_BYTES;
        for (int b = 0; b < count / BLOCK; b++, blockOff += BLOCK_BYTES) {
            FloatVector d = FloatVector.broadcast(F, Simd.half(seg, blockOff));
            int o = off + b * BLOCK;
            for (int j = 0; j < BLOCK / 2; j += BYTE_LOAD) {
                ByteVector q = ByteVector.fromMemorySegment(B, seg, blockOff + QS_OFFSET + j, LE);
                ByteVector low = q.and((byte) 0x0F).sub((byte) 8);
                ByteVector high = q.lanewise(VectorOperators.LSHR, 4).sub((byte) 8);
                for (int p = 0; p < PARTS; p++) {
                    ((FloatVector) low.convertShape(VectorOperators.B2F, F, p)).mul(d).intoArray(out, o + j + p * FL);
                    ((FloatVector) high.convertShape(VectorOperators.B2F, F, p)).mul(d)
                            .intoArray(out, o + BLOCK / 2 + j + p * FL);
                }
            }
        }
    }

    @Override
    void dequantizeScalar(int row, int col, int count, float[] out, int off) {
        MemorySegment seg = data;
        long blockOff = row * rowBytes + (long) (col / BLOCK) * BLOCK_BYTES;
        for (int b = 0; b < count / BLOCK; b++, blockOff += BLOCK_BYTES) {
            float d = Simd.half(seg, blockOff);
            int o = off + b * BLOCK;
            for (int j = 0; j < BLOCK / 2; j++) {
                int q = seg.get(ValueLayout.JAVA_BYTE, blockOff + QS_OFFSET + j) & 0xFF;
                out[o + j] = d * ((q & 0x0F) - 8);
                out[o + j + BLOCK / 2] = d * ((q >>> 4) - 8);
            }
        }
    }
}
