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
 * Q8_0 weights, blocks of 32 elements in 34 bytes (ggml's {@code block_q8_0}):
 * <pre>
 * | d f16 (2 bytes) | qs int8[32] |        w[i] = d * qs[i],  i = 0..31
 *   offset 0          offset 2             block size = 2 + 32 = 34 bytes
 * </pre>
 *
 * <p>Thread ownership: immutable; safe for concurrent use.
 */
final class Q8_0Matrix extends WeightMatrix {
    static final int BLOCK = 32;
    static final int BLOCK_BYTES = Short.BYTES + BLOCK;
    static final int QS_OFFSET = Short.BYTES;

    Q8_0Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.Q8_0, data, rows, cols);
    }

    /**
     * Per block: widen the 32 int8 quants to floats in {@code BYTE_LOAD}-byte loads, multiply
     * with x into a block sum, then scale by d into one of two accumulators (two blocks per
     * iteration, so the accumulator chains do not serialise on the FMA latency).
     */
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

    /** Sum over one block of qs[i] * x[xi + i], lane-wise (unscaled). */
    private static FloatVector blockDot(MemorySegment seg, long off, float[] x, int xi) {
        FloatVector sum = FloatVector.zero(F);
        for (int j = 0; j < BLOCK; j += BYTE_LOAD) {
            ByteVector q = ByteVector.fromMemorySegment(B, seg, off + QS_OFFSET + j, LE);
            for (int p = 0; p < PARTS; p++) {
                FloatVector w = (FloatVector) q.convertShape(VectorOperators.B2F, F, p);
                sum = w.fma(FloatVector.fromArray(F, x, xi + j + p * FL), sum);
            }
        }
        return sum;
    }

    @Override
    float dotScalar(int row, float[] x, int xOff) {
        MemorySegment seg = data;
        long off = row * rowBytes;
        float sum = 0f;
        for (int b = 0; b < cols / BLOCK; b++, off += BLOCK_BYTES) {
            float d = Simd.half(seg, off);
            float blockSum = 0f;
            for (int i = 0; i < BLOCK; i++) {
                blockSum += seg.get(ValueLayout.JAVA_BYTE, off + QS_OFFSET + i) * x[xOff + b * BLOCK + i];
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
            for (int j = 0; j < BLOCK; j += BYTE_LOAD) {
                ByteVector q = ByteVector.fromMemorySegment(B, seg, blockOff + QS_OFFSET + j, LE);
                for (int p = 0; p < PARTS; p++) {
                    ((FloatVector) q.convertShape(VectorOperators.B2F, F, p)).mul(d)
                            .intoArray(out, off + b * BLOCK + j + p * FL);
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
            for (int i = 0; i < BLOCK; i++) {
                out[off + b * BLOCK + i] = d * seg.get(ValueLayout.JAVA_BYTE, blockOff + QS_OFFSET + i);
            }
        }
    }
}
