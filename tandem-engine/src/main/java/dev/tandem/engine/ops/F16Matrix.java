package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.FL;
import static dev.tandem.engine.ops.Simd.I;
import static dev.tandem.engine.ops.Simd.HALF_BITS;
import static dev.tandem.engine.ops.Simd.HALF_SCALE;
import static dev.tandem.engine.ops.Simd.LE;
import static dev.tandem.engine.ops.Simd.S;

import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * F16 weights: {@code | w0 f16 | w1 f16 | ... |}, IEEE binary16, little-endian, 2 bytes per
 * element, no blocks. The vector kernel widens halves as described at {@link Simd#HALF_BITS}.
 *
 * <p>Thread ownership: immutable; safe for concurrent use.
 */
final class F16Matrix extends WeightMatrix {
    F16Matrix(MemorySegment data, int rows, int cols) {
        super(GgmlType.F16, data, rows, cols);
    }

    @Override
    float dotVector(int row, float[] x, int xOff) {
        MemorySegment seg = data;
        long base = row * rowBytes;
        int n = cols;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int i = 0;
        for (int bound = n - 2 * FL; i <= bound; i += 2 * FL) {
            long o = base + (long) i * Short.BYTES;
            FloatVector w0 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(HALF_BITS).reinterpretAsFloats().mul(HALF_SCALE);
            FloatVector w1 = ((IntVector) ShortVector.fromMemorySegment(S, seg, o + FL * 2L, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(HALF_BITS).reinterpretAsFloats().mul(HALF_SCALE);
            acc0 = w0.fma(FloatVector.fromArray(F, x, xOff + i), acc0);
            acc1 = w1.fma(FloatVector.fromArray(F, x, xOff + i + FL), acc1);
        }
        for (int bound = n - FL; i <= bound; i += FL) {
            FloatVector w = ((IntVector) ShortVector.fromMemorySegment(S, seg, base + (long) i * 2, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(HALF_BITS).reinterpretAsFloats().mul(HALF_SCALE);
            acc0 = w.fma(FloatVector.fromArray(F, x, xOff + i), acc0);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += Simd.half(seg, base + (long) i * Short.BYTES) * x[xOff + i];
        }
        return sum;
    }

    @Override
    float dotScalar(int row, float[] x, int xOff) {
        MemorySegment seg = data;
        long base = row * rowBytes;
        float sum = 0f;
        for (int i = 0; i < cols; i++) {
            sum += Simd.half(seg, base + (long) i * Short.BYTES) * x[xOff + i];
        }
        return sum;
    }

    @Override
    void dequantizeVector(int row, int col, int count, float[] out, int off) {
        MemorySegment seg = data;
        long base = row * rowBytes + (long) col * Short.BYTES;
        int i = 0;
        for (int bound = count - FL; i <= bound; i += FL) {
            ((IntVector) ShortVector.fromMemorySegment(S, seg, base + (long) i * Short.BYTES, LE).convertShape(VectorOperators.S2I, I, 0))
                    .lanewise(VectorOperators.LSHL, 13).and(HALF_BITS).reinterpretAsFloats().mul(HALF_SCALE)
                    .intoArray(out, off + i);
        }
        for (; i < count; i++) {
            out[off + i] = Simd.half(seg, base + (long) i * Short.BYTES);
        }
    }

    @Override
    void dequantizeScalar(int row, int col, int count, float[] out, int off) {
        MemorySegment seg = data;
        long base = row * rowBytes + (long) col * Short.BYTES;
        for (int i = 0; i < count; i++) {
            out[off + i] = Simd.half(seg, base + (long) i * Short.BYTES);
        }
    }
}
