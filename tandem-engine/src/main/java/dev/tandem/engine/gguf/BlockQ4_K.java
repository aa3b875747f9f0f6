package dev.tandem.engine.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml's Q4_K block: 256 elements in 144 bytes, eight sub-blocks of 32 with a 6-bit scale and a
 * 6-bit min each, little-endian.
 *
 * <pre>
 * | d f16 | dmin f16 | scales u8[12] | qs u8[128] |
 *   sub-block j = 0..7: w = d * sc[j] * q - dmin * m[j],  q in 0..15
 *   scales: j &lt; 4: s[j] = sc[j] | (sc[j+4] &gt;&gt; 4) &lt;&lt; 6,  s[j+4] = m[j] | (m[j+4] &gt;&gt; 4) &lt;&lt; 6,
 *                  s[j+8] = (sc[j+4] &amp; 15) | (m[j+4] &amp; 15) &lt;&lt; 4
 *   qs: chunk c = 0..3: qs[32c + l] = q[64c + l] | q[64c + 32 + l] &lt;&lt; 4
 * </pre>
 *
 * Quantisation is a plain min/max fit per sub-block (scale = (max - min) / 15, min = -min(0, x)),
 * with the eight scales and mins quantised to 6 bits against their largest. It is not llama.cpp's
 * search ({@code make_qkx2_quants}), which picks slightly better scales: a file written here
 * decodes the same in llama.cpp and in Tandem, but differs from {@code llama-quantize}'s bytes.
 */
public final class BlockQ4_K {
    public static final int ELEMENTS = 256;
    public static final int D_OFFSET = 0;
    public static final int DMIN_OFFSET = 2;
    public static final int SCALES_OFFSET = 4;
    public static final int QS_OFFSET = 16;
    public static final int BYTES = QS_OFFSET + ELEMENTS / 2;

    private BlockQ4_K() {
    }

    /** Quantises {@code blocks} consecutive blocks of {@code src} into {@code dst}. */
    public static void quantize(float[] src, int srcOffset, int blocks, byte[] dst, int dstOffset) {
        float[] scale = new float[8];
        float[] minus = new float[8];
        int[] sc = new int[8];
        int[] m = new int[8];
        for (int b = 0; b < blocks; b++) {
            int x = srcOffset + b * ELEMENTS;
            int y = dstOffset + b * BYTES;
            float maxScale = 0f;
            float maxMin = 0f;
            for (int j = 0; j < 8; j++) {
                float lo = 0f;
                float hi = 0f;
                for (int l = 0; l < 32; l++) {
                    float v = src[x + 32 * j + l];
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                }
                scale[j] = (hi - lo) / 15f;
                minus[j] = -lo;
                maxScale = Math.max(maxScale, scale[j]);
                maxMin = Math.max(maxMin, minus[j]);
            }
            short dh = FloatBits.toF16(maxScale / 63f);
            short mh = FloatBits.toF16(maxMin / 63f);
            float d = FloatBits.fromF16(dh);
            float dmin = FloatBits.fromF16(mh);
            for (int j = 0; j < 8; j++) {
                sc[j] = d > 0f ? Math.clamp(Math.round(scale[j] / d), 0, 63) : 0;
                m[j] = dmin > 0f ? Math.clamp(Math.round(minus[j] / dmin), 0, 63) : 0;
            }
            dst[y + D_OFFSET] = (byte) dh;
            dst[y + D_OFFSET + 1] = (byte) (dh >> 8);
            dst[y + DMIN_OFFSET] = (byte) mh;
            dst[y + DMIN_OFFSET + 1] = (byte) (mh >> 8);
            for (int j = 0; j < 4; j++) {
                dst[y + SCALES_OFFSET + j] = (byte) (sc[j] | (sc[j + 4] >> 4) << 6);
                dst[y + SCALES_OFFSET + j + 4] = (byte) (m[j] | (m[j + 4] >> 4) << 6);
                dst[y + SCALES_OFFSET + j + 8] = (byte) ((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
            }
            for (int c = 0; c < 4; c++) {
                for (int l = 0; l < 32; l++) {
                    int lo = quant(src[x + 64 * c + l], d * sc[2 * c], dmin * m[2 * c]);
                    int hi = quant(src[x + 64 * c + 32 + l], d * sc[2 * c + 1], dmin * m[2 * c + 1]);
                    dst[y + QS_OFFSET + 32 * c + l] = (byte) (lo | hi << 4);
                }
            }
        }
    }

    private static int quant(float v, float scale, float min) {
        return scale > 0f ? Math.clamp(Math.round((v + min) / scale), 0, 15) : 0;
    }

    /** 6-bit scale of sub-block {@code j} of the block at {@code off}. */
    public static int scale(MemorySegment seg, long off, int j) {
        long s = off + SCALES_OFFSET;
        return j < 4 ? u8(seg, s + j) & 63 : (u8(seg, s + j + 4) & 15) | (u8(seg, s + j - 4) >> 6) << 4;
    }

    /** 6-bit min of sub-block {@code j} of the block at {@code off}. */
    public static int min(MemorySegment seg, long off, int j) {
        long s = off + SCALES_OFFSET;
        return j < 4 ? u8(seg, s + j + 4) & 63 : (u8(seg, s + j + 4) >> 4) | (u8(seg, s + j) >> 6) << 4;
    }

    private static int u8(MemorySegment seg, long off) {
        return seg.get(ValueLayout.JAVA_BYTE, off) & 0xFF;
    }

    /** Dequantises {@code count} elements (a multiple of 256) starting at block-aligned {@code srcOffset}. */
    public static void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
        for (int b = 0; b < count / ELEMENTS; b++) {
            long off = srcOffset + (long) b * BYTES;
            float d = FloatBits.fromF16(src.get(Quantizer.U16_LE, off + D_OFFSET));
            float dmin = FloatBits.fromF16(src.get(Quantizer.U16_LE, off + DMIN_OFFSET));
            for (int c = 0; c < 4; c++) {
                float scaleLow = d * scale(src, off, 2 * c);
                float minLow = dmin * min(src, off, 2 * c);
                float scaleHigh = d * scale(src, off, 2 * c + 1);
                float minHigh = dmin * min(src, off, 2 * c + 1);
                int o = dstOffset + b * ELEMENTS + 64 * c;
                for (int l = 0; l < 32; l++) {
                    int q = u8(src, off + QS_OFFSET + 32 * c + l);
                    dst[o + l] = Math.fma(q & 15, scaleLow, -minLow);
                    dst[o + 32 + l] = Math.fma(q >> 4, scaleHigh, -minHigh);
                }
            }
        }
    }
}
