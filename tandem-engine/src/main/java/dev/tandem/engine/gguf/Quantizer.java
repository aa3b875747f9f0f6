package dev.tandem.engine.gguf;

import dev.tandem.core.ModelFormatException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Float to and from the tensor types Tandem writes: F32, F16, BF16 ({@link FloatBits}),
 * Q8_0 ({@link BlockQ8_0}), Q4_0 ({@link BlockQ4_0}), Q4_K ({@link BlockQ4_K}) and Q6_K ({@link BlockQ6_K}).
 * Each conversion but Q4_K's quantisation is bit-exact with llama.cpp's reference code, so a file
 * Tandem quantises equals the one llama.cpp's {@code llama-quantize} would write from the same
 * floats (Q4_K: see {@link BlockQ4_K}). Stateless; safe for concurrent use.
 */
public final class Quantizer {
    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort U16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Quantizer() {
    }

    /** Whether {@link #quantize} and {@link #dequantize} handle {@code type}. */
    public static boolean supports(GgmlType type) {
        return switch (type) {
            case F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K -> true;
            default -> false;
        };
    }

    /**
     * Encodes {@code count} floats of {@code src} (a multiple of the type's block size) as
     * {@code type} into {@code dst}, which needs {@code type.bytesFor(count)} bytes.
     */
    public static void quantize(GgmlType type, float[] src, int srcOffset, int count, byte[] dst, int dstOffset) {
        checkBlocks(type, count);
        switch (type) {
            case F32 -> MemorySegment.copy(src, srcOffset, MemorySegment.ofArray(dst), F32_LE, dstOffset, count);
            case F16 -> {
                for (int i = 0; i < count; i++) {
                    short h = FloatBits.toF16(src[srcOffset + i]);
                    dst[dstOffset + 2 * i] = (byte) h;
                    dst[dstOffset + 2 * i + 1] = (byte) (h >> 8);
                }
            }
            case BF16 -> {
                for (int i = 0; i < count; i++) {
                    short h = FloatBits.toBf16(src[srcOffset + i]);
                    dst[dstOffset + 2 * i] = (byte) h;
                    dst[dstOffset + 2 * i + 1] = (byte) (h >> 8);
                }
            }
            case Q8_0 -> BlockQ8_0.quantize(src, srcOffset, count / BlockQ8_0.ELEMENTS, dst, dstOffset);
            case Q4_0 -> BlockQ4_0.quantize(src, srcOffset, count / BlockQ4_0.ELEMENTS, dst, dstOffset);
            case Q4_K -> BlockQ4_K.quantize(src, srcOffset, count / BlockQ4_K.ELEMENTS, dst, dstOffset);
            case Q6_K -> BlockQ6_K.quantize(src, srcOffset, count / BlockQ6_K.ELEMENTS, dst, dstOffset);
            default -> throw unsupported(type);
        }
    }

    /**
     * Decodes {@code count} elements of type {@code type} (a multiple of the block size) that
     * start at byte {@code srcOffset} of {@code src} (a block boundary) into {@code dst}.
     */
    public static void dequantize(GgmlType type, MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
        checkBlocks(type, count);
        switch (type) {
            case F32 -> MemorySegment.copy(src, F32_LE, srcOffset, dst, dstOffset, count);
            case F16 -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOffset + i] = FloatBits.fromF16(src.get(U16_LE, srcOffset + 2L * i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < count; i++) {
                    dst[dstOffset + i] = FloatBits.fromBf16(src.get(U16_LE, srcOffset + 2L * i));
                }
            }
            case Q8_0 -> BlockQ8_0.dequantize(src, srcOffset, dst, dstOffset, count);
            case Q4_0 -> BlockQ4_0.dequantize(src, srcOffset, dst, dstOffset, count);
            case Q4_K -> BlockQ4_K.dequantize(src, srcOffset, dst, dstOffset, count);
            case Q6_K -> BlockQ6_K.dequantize(src, srcOffset, dst, dstOffset, count);
            default -> throw unsupported(type);
        }
    }

    /** The whole tensor as floats (for tests, tools and small tensors; at most 2^31-1 elements). */
    public static float[] dequantize(GgufTensor tensor) {
        long n = tensor.elementCount();
        if (n > Integer.MAX_VALUE - 8) {
            throw new ModelFormatException("tensor " + tensor.name() + " has " + n + " elements, too many for one array");
        }
        float[] out = new float[(int) n];
        dequantize(tensor.type(), tensor.data(), 0, out, 0, (int) n);
        return out;
    }

    private static void checkBlocks(GgmlType type, int count) {
        if (count % type.blockSize() != 0) {
            throw new IllegalArgumentException(type + " works on multiples of " + type.blockSize() + " elements, got " + count);
        }
    }

    private static ModelFormatException unsupported(GgmlType type) {
        return new ModelFormatException("tensor type " + type + " is not supported here (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)");
    }
}
