package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.F32_LE;
import static dev.tandem.engine.ops.Simd.FL;
import static dev.tandem.engine.ops.Simd.LE;

import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * F32 weights: {@code | w0 f32 | w1 f32 | ... |}, little-endian, 4 bytes per element, no blocks.
 *
 * <p>Thread ownership: immutable; safe for concurrent use.
 */
final class F32Matrix extends WeightMatrix {
    F32Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.F32, data, rows, cols);
    }

    /** Four independent accumulators hide the FMA latency; the tail runs scalar. */
    @Override
    float dotVector(int row, float[] x, int xOff) {
        MemorySegment seg = data;
        long base = row * rowBytes;
        int n = cols;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        FloatVector acc2 = FloatVector.zero(F);
        FloatVector acc3 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 4 * FL; i <= bound; i += 4 * FL) {
            long o = base + (long) i * Float.BYTES;
            acc0 = FloatVector.fromMemorySegment(F, seg, o, LE).fma(FloatVector.fromArray(F, x, xOff + i), acc0);
            acc1 = FloatVector.fromMemorySegment(F, seg, o + FL * 4L, LE)
                    .fma(FloatVector.fromArray(F, x, xOff + i + FL), acc1);
            acc2 = FloatVector.fromMemorySegment(F, seg, o + 2 * FL * 4L, LE)
                    .fma(FloatVector.fromArray(F, x, xOff + i + 2 * FL), acc2);
            acc3 = FloatVector.fromMemorySegment(F, seg, o + 3 * FL * 4L, LE)
                    .fma(FloatVector.fromArray(F, x, xOff + i + 3 * FL), acc3);
        }
        for (int bound = n - FL; i <= bound; i += FL) {
            acc0 = FloatVector.fromMemorySegment(F, seg, base + (long) i * Float.BYTES, LE)
                    .fma(FloatVector.fromArray(F, x, xOff + i), acc0);
        }
        float sum = acc0.add(acc1).add(acc2.add(acc3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += seg.get(F32_LE, base + (long) i * Float.BYTES) * x[xOff + i];
        }
        return sum;
    }

    @Override
    float dotScalar(int row, float[] x, int xOff) {
        MemorySegment seg = data;
        long base = row * rowBytes;
        float sum = 0f;
        for (int i = 0; i < cols; i++) {
            sum += seg.get(F32_LE, base + (long) i * Float.BYTES) * x[xOff + i];
        }
        return sum;
    }

    @Override
    void dequantizeVector(int row, int col, int count, float[] out, int off) {
        MemorySegment seg = data;
        long base = row * rowBytes + (long) col * Float.BYTES;
        int i = 0;
        for (int bound = count - FL; i <= bound; i += FL) {
            FloatVector.fromMemorySegment(F, seg, base + (long) i * Float.BYTES, LE).intoArray(out, off + i);
        }
        for (; i < count; i++) {
            out[off + i] = seg.get(F32_LE, base + (long) i * Float.BYTES);
        }
    }

    @Override
    void dequantizeScalar(int row, int col, int count, float[] out, int off) {
        MemorySegment seg = data;
        long base = row * rowBytes + (long) col * Float.BYTES;
        for (int i = 0; i < count; i++) {
            out[off + i] = seg.get(F32_LE, base + (long) i * Float.BYTES);
        }
    }
}
