package dev.tandem.engine.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * ggml's Q6_K super-block: 256 elements in 210 bytes, little-endian.
 *
 * <pre>
 * | ql u8[128] | qh u8[64] | scales int8[16] | d f16 |
 *   each element is a 6-bit q in 0..63: low 4 bits in ql, high 2 bits in qh
 *   x = d * scales[g] * (q - 32), g = element / 16 (sixteen groups of 16)
 *   in each half h (elements 128h .. 128h+127; ql bytes 64h.., qh bytes 32h..), for l = 0..31:
 *     ql[l]      = q[l]      &amp; 15 | (q[l + 64] &amp; 15) &lt;&lt; 4
 *     ql[l + 32] = q[l + 32] &amp; 15 | (q[l + 96] &amp; 15) &lt;&lt; 4
 *     qh[l]      = q[l] &gt;&gt; 4 | (q[l + 32] &gt;&gt; 4) &lt;&lt; 2 | (q[l + 64] &gt;&gt; 4) &lt;&lt; 4 | (q[l + 96] &gt;&gt; 4) &lt;&lt; 6
 * </pre>
 *
 * Quantisation is llama.cpp's reference ({@code quantize_row_q6_K_ref}, what {@code llama-quantize}
 * uses without an importance matrix), bit for bit: each group of 16 gets a scale from
 * {@link #makeQxQuants} (weights x², a search over 19 candidate scales), the group scales are
 * quantised to int8 against the super-block scale {@code d = maxScale / -128}, and the elements
 * are re-quantised against their rounded group scale.
 */
public final class BlockQ6_K {
    public static final int ELEMENTS = 256;
    public static final int QL_OFFSET = 0;
    public static final int QH_OFFSET = QL_OFFSET + ELEMENTS / 2;
    public static final int SCALES_OFFSET = QH_OFFSET + ELEMENTS / 4;
    public static final int D_OFFSET = SCALES_OFFSET + ELEMENTS / 16;
    public static final int BYTES = D_OFFSET + Short.BYTES;

    /** Below this magnitude a group or super-block counts as all zero (ggml's GROUP_MAX_EPS). */
    private static final float GROUP_MAX_EPS = 1e-15f;

    private BlockQ6_K() {
    }

    /** Quantises {@code blocks} consecutive super-blocks of {@code src} into {@code dst}. */
    public static void quantize(float[] src, int srcOffset, int blocks, byte[] dst, int dstOffset) {
        byte[] levels = new byte[ELEMENTS];
        float[] scales = new float[ELEMENTS / 16];
        for (int b = 0; b < blocks; b++) {
            int x = srcOffset + b * ELEMENTS;
            int y = dstOffset + b * BYTES;
            float maxScale = 0;
            float maxAbsScale = 0;
            for (int g = 0; g < ELEMENTS / 16; g++) {
                float scale = makeQxQuants(src, x + 16 * g, levels, 16 * g);
                scales[g] = scale;
                if (Math.abs(scale) > maxAbsScale) {
                    maxAbsScale = Math.abs(scale);
                    maxScale = scale;
                }
            }
            if (maxAbsScale < GROUP_MAX_EPS) {
                java.util.Arrays.fill(dst, y, y + BYTES, (byte) 0);
                continue;
            }
            float iscale = -128f / maxScale;
            short d = FloatBits.toF16(1 / iscale);
            dst[y + D_OFFSET] = (byte) d;
            dst[y + D_OFFSET + 1] = (byte) (d >> 8);
            float dFloat = FloatBits.fromF16(d);
            for (int g = 0; g < ELEMENTS / 16; g++) {
                int sc = Math.min(127, nearestInt(iscale * scales[g]));
                dst[y + SCALES_OFFSET + g] = (byte) sc;
                float groupScale = dFloat * sc;
                if (groupScale == 0) {
                    continue; // keeps the levels makeQxQuants chose, as the reference does
                }
                for (int i = 0; i < 16; i++) {
                    int l = nearestInt(src[x + 16 * g + i] / groupScale);
                    levels[16 * g + i] = (byte) (Math.max(-32, Math.min(31, l)) + 32);
                }
            }
            for (int half = 0; half < 2; half++) {
                int q = 128 * half;
                int ql = y + QL_OFFSET + 64 * half;
                int qh = y + QH_OFFSET + 32 * half;
                for (int l = 0; l < 32; l++) {
                    int q1 = levels[q + l];
                    int q2 = levels[q + l + 32];
                    int q3 = levels[q + l + 64];
                    int q4 = levels[q + l + 96];
                    dst[ql + l] = (byte) ((q1 & 0xF) | (q3 & 0xF) << 4);
                    dst[ql + l + 32] = (byte) ((q2 & 0xF) | (q4 & 0xF) << 4);
                    dst[qh + l] = (byte) ((q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
                }
            }
        }
    }

    /**
     * llama.cpp's {@code make_qx_quants(16, 32, x, L, rmse_type = 1, NULL)}: levels
     * {@code L = l + 32} with {@code l} in -32..31 and the scale minimising the x²-weighted error,
     * trying {@code iscale = -(32 + 0.1 is) / max} for is = 0, ±1 .. ±9. Float arithmetic in the
     * reference's order.
     */
    static float makeQxQuants(float[] x, int xOffset, byte[] levels, int levelOffset) {
        final int n = 16;
        final int nmax = 32;
        float max = 0;
        float amax = 0;
        for (int i = 0; i < n; i++) {
            float ax = Math.abs(x[xOffset + i]);
            if (ax > amax) {
                amax = ax;
                max = x[xOffset + i];
            }
        }
        if (amax < GROUP_MAX_EPS) {
            java.util.Arrays.fill(levels, levelOffset, levelOffset + n, (byte) 0);
            return 0f;
        }
        float iscale = -nmax / max;
        float sumlx = 0;
        float suml2 = 0;
        for (int i = 0; i < n; i++) {
            float v = x[xOffset + i];
            int l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * v)));
            levels[levelOffset + i] = (byte) (l + nmax);
            float w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) {
                continue;
            }
            iscale = -(nmax + 0.1f * is) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < n; i++) {
                float v = x[xOffset + i];
                int l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(iscale * v)));
                float w = v * v;
                sumlx += w * v * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2) {
                for (int i = 0; i < n; i++) {
                    int l = nearestInt(iscale * x[xOffset + i]);
                    levels[levelOffset + i] = (byte) (nmax + Math.max(-nmax, Math.min(nmax - 1, l)));
                }
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /** ggml's {@code nearest_int}: round half to even through the float mantissa (|v| &lt; 2^22). */
    static int nearestInt(float v) {
        int bits = Float.floatToRawIntBits(v + 12582912.f);
        return (bits & 0x007FFFFF) - 0x00400000;
    }

    /** Dequantises {@code count} elements (a multiple of 256) starting at super-block-aligned {@code srcOffset}. */
    public static void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int count) {
        for (int b = 0; b < count / ELEMENTS; b++) {
            long y = srcOffset + (long) b * BYTES;
            float d = FloatBits.fromF16(src.get(BlockQ8_0.F16_LE, y + D_OFFSET));
            int x = dstOffset + b * ELEMENTS;
            for (int half = 0; half < 2; half++) {
                long ql = y + QL_OFFSET + 64 * half;
                long qh = y + QH_OFFSET + 32 * half;
                long sc = y + SCALES_OFFSET + 8 * half;
                int out = x + 128 * half;
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int lo = src.get(ValueLayout.JAVA_BYTE, ql + l) & 0xFF;
                    int lo2 = src.get(ValueLayout.JAVA_BYTE, ql + l + 32) & 0xFF;
                    int hi = src.get(ValueLayout.JAVA_BYTE, qh + l) & 0xFF;
                    int q1 = ((lo & 0xF) | ((hi & 3) << 4)) - 32;
                    int q2 = ((lo2 & 0xF) | (((hi >> 2) & 3) << 4)) - 32;
                    int q3 = ((lo >> 4) | (((hi >> 4) & 3) << 4)) - 32;
                    int q4 = ((lo2 >> 4) | (((hi >> 6) & 3) << 4)) - 32;
                    dst[out + l] = d * src.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
                    dst[out + l + 32] = d * src.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
                    dst[out + l + 64] = d * src.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
                    dst[out + l + 96] = d * src.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
                }
            }
        }
    }
}
