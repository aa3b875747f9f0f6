package dev.tandem.engine.ops;

/**
 * Activation rows quantised to Q8 blocks, llama.cpp's {@code quantize_row_q8_0}: per block of 32
 * elements {@code d = max|x| / 127} (rounded to f16, as {@code block_q8_0} stores it) and
 * {@code q[i] = round-half-even(x[i] / d)} in -127..127 (llama.cpp's AVX2 path rounds to
 * nearest even too). The quants are kept as 16-bit lanes so that the integer dot kernels load
 * them without widening, with each block's scale and quant sum:
 * <pre>
 * q      short[rows][cols]        quant k of row t at t * cols + k
 * scales float[rows][cols / 32]   d of block b of row t at t * cols / 32 + b (the f16-rounded value)
 * sums   int[rows][cols / 32]     sum of the block's quants (4-bit kernels fold their -8 offset with it)
 * </pre>
 * With weights of at most 8 bits, every product fits in 16 bits and the sum of two in 16 bits
 * too (|w| &le; 128, |q| &le; 127: 2 * 128 * 127 = 32512 &lt; 32767).
 *
 * <p>Thread ownership: written by one thread ({@link #quantize}), then read by many.
 */
public final class Q8Activations {
    /** Elements per block. */
    public static final int BLOCK = 32;

    short[] q = new short[0];
    float[] scales = new float[0];
    int[] sums = new int[0];
    private int cols;

    /** Quantises rows {@code x[xOff + t*cols ..]} for t in 0..rows ({@code cols} a multiple of 32); grows on demand. */
    public void quantize(float[] x, int xOff, int rows, int cols) {
        if (q.length < rows * cols) {
            q = new short[rows * cols];
            scales = new float[rows * cols / BLOCK];
            sums = new int[rows * cols / BLOCK];
        }
        this.cols = cols;
        for (int t = 0; t < rows; t++) {
            quantizeRow(x, xOff + t * cols, cols, q, t * cols, scales, sums, t * cols / BLOCK);
        }
    }

    /** Columns of the rows last quantised. */
    public int cols() {
        return cols;
    }

    /** Quantises {@code x[xOff .. xOff+n)} ({@code n} a multiple of 32). */
    static void quantizeRow(float[] x, int xOff, int n, short[] q, int qOff, float[] scales, int[] sums, int sOff) {
        for (int b = 0; b < n / BLOCK; b++) {
            int base = xOff + b * BLOCK;
            float amax = 0f;
            for (int i = 0; i < BLOCK; i++) {
                amax = Math.max(amax, Math.abs(x[base + i]));
            }
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f;
            scales[sOff + b] = Float.float16ToFloat(Float.floatToFloat16(d));
            int sum = 0;
            for (int i = 0; i < BLOCK; i++) {
                short v = (short) Math.rint(x[base + i] * id);
                q[qOff + b * BLOCK + i] = v;
                sum += v;
            }
            sums[sOff + b] = sum;
        }
    }
}
