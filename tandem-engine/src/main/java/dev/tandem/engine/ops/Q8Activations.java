package dev.tandem.engine.ops;

/**
 * Activation rows quantised to Q8 blocks, llama.cpp's {@code quantize_row_q8_0}: per block of 32
 * elements {@code d = max|x| / 127} (rounded to f16, as {@code block_q8_0} stores it) and
 * {@code q[i] = round-half-even(x[i] / d)} in -127..127. The quants are kept as 16-bit lanes so
 * that the integer dot kernels load them without widening:
 * <pre>
 * q      short[n]        quant i of the row at qOff + i
 * scales float[n / 32]   d of block b at sOff + b (the f16-rounded value, widened)
 * </pre>
 * With weights quantised to at most 8 bits, every product fits in 16 bits and the sum of two
 * in 16 bits too (|w| &le; 128, |q| &le; 127: 2 * 128 * 127 = 32512 &lt; 32767).
 *
 * <p>Thread ownership: stateless, safe for concurrent use.
 */
public final class Q8Activations {
    /** Elements per block. */
    public static final int BLOCK = 32;

    private Q8Activations() {
    }

    /** Quantises {@code x[xOff .. xOff+n)} ({@code n} a multiple of 32). */
    public static void quantize(float[] x, int xOff, int n, short[] q, int qOff, float[] scales, int sOff) {
        for (int b = 0; b < n / BLOCK; b++) {
            int base = xOff + b * BLOCK;
            float amax = 0f;
            for (int i = 0; i < BLOCK; i++) {
                amax = Math.max(amax, Math.abs(x[base + i]));
            }
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f;
            scales[sOff + b] = Float.float16ToFloat(Float.floatToFloat16(d));
            for (int i = 0; i < BLOCK; i++) {
                q[qOff + b * BLOCK + i] = (short) Math.rint(x[base + i] * id);
            }
        }
    }
}
