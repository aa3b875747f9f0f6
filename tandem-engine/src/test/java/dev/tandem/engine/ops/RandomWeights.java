package dev.tandem.engine.ops;

import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

/** Seeded random weight matrices of every supported type, at a chosen byte misalignment. */
final class RandomWeights {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private RandomWeights() {
    }

    /**
     * A {@code type} matrix of rows x cols over random bytes whose scale fields hold sane halves,
     * placed {@code misalign} bytes into a fresh segment of {@code arena}.
     */
    static WeightMatrix matrix(Arena arena, GgmlType type, int rows, int cols, int misalign, SplittableRandom rnd) {
        long bytes = rows * type.bytesFor(cols);
        MemorySegment base = arena.allocate(bytes + misalign + 64, 64);
        MemorySegment seg = base.asSlice(misalign, bytes);
        for (long i = 0; i < bytes; i++) {
            seg.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt(256));
        }
        long elements = (long) rows * cols;
        switch (type) {
            case F32 -> {
                for (long i = 0; i < elements; i++) {
                    seg.set(F32, i * 4, (float) rnd.nextGaussian());
                }
            }
            case F16 -> {
                for (long i = 0; i < elements; i++) {
                    seg.set(I16, i * 2, Float.floatToFloat16((float) rnd.nextGaussian()));
                }
            }
            case BF16 -> {
                for (long i = 0; i < elements; i++) {
                    seg.set(I16, i * 2, (short) (Float.floatToIntBits((float) rnd.nextGaussian()) >>> 16));
                }
            }
            case Q8_0, Q4_0 -> {
                for (long b = 0; b < elements / 32; b++) {
                    seg.set(I16, b * type.blockBytes(), half(rnd, 0.001, 0.05));
                }
            }
            case Q4_K -> {
                for (long b = 0; b < elements / 256; b++) {
                    seg.set(I16, b * 144, half(rnd, 0.0001, 0.01));
                    seg.set(I16, b * 144 + 2, half(rnd, 0.0001, 0.01));
                }
            }
            case Q6_K -> {
                for (long b = 0; b < elements / 256; b++) {
                    seg.set(I16, b * 210 + 208, half(rnd, 0.0001, 0.01));
                }
            }
            default -> throw new IllegalArgumentException(type.toString());
        }
        return WeightMatrix.of(type, seg, rows, cols);
    }

    /** A random half of either sign with magnitude in [lo, hi). */
    static short half(SplittableRandom rnd, double lo, double hi) {
        double v = lo + rnd.nextDouble() * (hi - lo);
        return Float.floatToFloat16((float) (rnd.nextBoolean() ? v : -v));
    }

    static float[] floats(int n, SplittableRandom rnd) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        return x;
    }
}
