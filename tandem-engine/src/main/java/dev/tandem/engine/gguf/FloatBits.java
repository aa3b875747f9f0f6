package dev.tandem.engine.gguf;

/**
 * Conversions between float and the 16-bit float formats GGUF stores, bit-exact with ggml.
 *
 * <ul>
 *   <li>F16: IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits), round to nearest even;
 *       every NaN becomes the quiet NaN 0x7E00 with the input's sign, as
 *       {@code ggml_compute_fp32_to_fp16} does.
 *   <li>BF16: the upper 16 bits of a float (1 sign, 8 exponent, 7 mantissa bits), round to
 *       nearest even; a NaN keeps its upper bits with the quiet bit (0x40) forced, as
 *       {@code ggml_compute_fp32_to_bf16} does. Subnormals are kept, not flushed.
 * </ul>
 */
public final class FloatBits {
    private FloatBits() {
    }

    public static short toF16(float value) {
        if (Float.isNaN(value)) {
            return (short) (((Float.floatToRawIntBits(value) >>> 16) & 0x8000) | 0x7E00);
        }
        return Float.floatToFloat16(value);
    }

    public static float fromF16(short bits) {
        return Float.float16ToFloat(bits);
    }

    public static short toBf16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000) {
            return (short) ((bits >>> 16) | 64);
        }
        return (short) ((bits + (0x7FFF + ((bits >>> 16) & 1))) >>> 16);
    }

    public static float fromBf16(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }
}
