package dev.tandem.engine.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml's Q4_0 block: 32 elements in 18 bytes, little-endian.
 *
 * <pre>
 * | d f16 (2 bytes) | qs u8[16] |
 *   qs[j] = q[j] | q[j + 16] << 4      (element j in the low nibble, element j+16 in the high one)
 *   x[j]  = d * (q[j] - 8),  q in 0..15
 * </pre>
 *
 * Quantisation is llama.cpp's reference ({@code quantize_row_q4_0_ref}), bit for bit: {@code max}
 * is the element of largest magnitude <em>with its sign</em> (the first one on ties),
 * {@code d = max / -8}, {@code id = d != 0 ? 1/d : 0}, {@code q = min(15, (int) (x * id + 8.5f))},
 * in float arithmetic. So the largest element maps exactly to q = 0 (value -8d = max), and the
 * other end of the range reaches only +7d: the worst-case error is about {@code |max| / 16}
 * plus the f16 rounding of the scale.
 */
public final class BlockQ4_0 {
    public static final int ELEMENTS = 32;
    public static final int D_OFFSET = 0;
    public static final int QS_OFFSET = D_OFFSET + Short.BYTES;
    public static final int BYTES = QS_OFFSET + ELEMENTS / 2;

    private BlockQ4_0() {
    }

    /** Quantises {@code blocks} consecutive blocks of {@code src} into {@code dst}. */
    public static void quantize(float[] src, int srcOffset, int blocks, byte[] dst, int dstOffset) {
        for (int b = 0; b < blocks; b++) {
            int x = srcOffset + b * ELEMENTS;
            int y = dstOffset + b * BYTES;
            float amax = 0f;
            float max = 0f;
            for (int j = 0; j < ELEMENTS; j++) {
                float v = src[x + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -8;
            float id = d != 0f ? 1.0f / d : 0f;
            short h = FloatBits.toF16(d);
            dst[y + D_OFFSET] = (byte) h;
            dst[y + D_OFFSET + 1] = (byte) (h >> 8);
            for (int j = 0; j < ELEMENTS / 2; j++) {
                int lo = Math.min(15, (int) (src[x + j] * id + 8.5f));
                int hi = Math.min(15, (int) (src[x + ELEMENTS / 2 + j] * id + 8.5f));
                dst[y + QS_OFFSET + j] = (byte) (lo | hi << 4);
            }
        }
    }

    /** Dequantises {@code count} elements (a multiple of 32) starting at block-aligned {@code srcOffset}. */
    public static void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
        for (int b = 0; b < count / ELEMENTS; b++) {
            long y = srcOffset + (long) b * BYTES;
            float d = FloatBits.fromF16(src.get(BlockQ8_0.F16_LE, y + D_OFFSET));
            int x = dstOffset + b * ELEMENTS;
            for (int j = 0; j < ELEMENTS / 2; j++) {
                int q = src.get(ValueLayout.JAVA_BYTE, y + QS_OFFSET + j) & 0xFF;
                dst[x + j] = ((q & 0x0F) - 8) * d;
                dst[x + ELEMENTS / 2 + j] = ((q >>> 4) - 8) * d;
            }
        }
    }
}
