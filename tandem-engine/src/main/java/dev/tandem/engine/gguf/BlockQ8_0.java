package dev.tandem.engine.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * ggml's Q8_0 block: 32 elements in 34 bytes, little-endian.
 *
 * <pre>
 * | d f16 (2 bytes) | qs int8[32] |
 *   x[j] = d * qs[j],  j = 0..31
 * </pre>
 *
 * Quantisation is llama.cpp's reference ({@code quantize_row_q8_0_ref}), bit for bit:
 * {@code amax = max |x[j]|}, {@code d = amax / 127}, {@code id = d != 0 ? 1/d : 0},
 * {@code qs[j] = roundf(x[j] * id)} (half away from zero), all in float arithmetic; the stored
 * scale is {@code d} rounded to f16, while the quants use the unrounded {@code d}.
 * The worst-case error of an element is therefore about {@code amax / 254} plus the f16
 * rounding of the scale (relative 2^-11).
 */
public final class BlockQ8_0 {
    public static final int ELEMENTS = 32;
    public static final int D_OFFSET = 0;
    public static final int QS_OFFSET = D_OFFSET + Short.BYTES;
    public static final int BYTES = QS_OFFSET + ELEMENTS;

    static final ValueLayout.OfShort F16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private BlockQ8_0() {
    }

    /** Quantises {@code blocks} consecutive blocks of {@code src} into {@code dst}. */
    public static void quantize(float[] src, int srcOffset, int blocks, byte[] dst, int dstOffset) {
        for (int b = 0; b < blocks; b++) {
            int x = srcOffset + b * ELEMENTS;
            int y = dstOffset + b * BYTES;
            float amax = 0f;
            for (int j = 0; j < ELEMENTS; j++) {
                amax = Math.max(amax, Math.abs(src[x + j]));
            }
            float d = amax / 127;
            float id = d != 0f ? 1.0f / d : 0f;
            short h = FloatBits.toF16(d);
            dst[y + D_OFFSET] = (byte) h;
            dst[y + D_OFFSET + 1] = (byte) (h >> 8);
            for (int j = 0; j < ELEMENTS; j++) {
                dst[y + QS_OFFSET + j] = (byte) roundHalfAwayFromZero(src[x + j] * id);
            }
        }
    }

    /** Dequantises {@code count} elements (a multiple of 32) starting at block-aligned {@code srcOffset}. */
    public static void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
        for (int b = 0; b < count / ELEMENTS; b++) {
            long y = srcOffset + (long) b * BYTES;
            float d = FloatBits.fromF16(src.get(F16_LE, y + D_OFFSET));
            int x = dstOffset + b * ELEMENTS;
            for (int j = 0; j < ELEMENTS; j++) {
                dst[x + j] = d * src.get(ValueLayout.JAVA_BYTE, y + QS_OFFSET + j);
            }
        }
    }

    /** C's {@code roundf}: halves round away from zero. Exact in double for every float. */
    static int roundHalfAwayFromZero(float v) {
        return (int) (v + Math.copySign(0.5, v));
    }
}
