package dev.tandem.engine.ops;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The kernels' vector width, fixed once per JVM, and small helpers every kernel shares.
 *
 * <p>{@code -Dtandem.kernels.vector-bits=N} picks the float vector width: 0 forces the scalar
 * twins everywhere; 128, 256 or 512 pick that width (capped at what the CPU supports); the
 * default is the CPU's preferred width ({@code FloatVector.SPECIES_PREFERRED}: 256 bits on AVX2,
 * 512 on AVX-512). The value is read once into a {@code static final}, so the JIT folds every
 * {@code if (Simd.ENABLED)} away.
 *
 * <p>Byte loads for 8-bit quants use a byte species of {@link #BYTE_LOAD} bytes (never fewer
 * than 8, the smallest byte vector); each load is widened to floats in {@link #PARTS} parts of
 * {@code F.length()} lanes.
 *
 * <p>Thread ownership: stateless, safe for concurrent use.
 */
public final class Simd {
    /** The property that selects the vector width in bits (0 = scalar). */
    public static final String VECTOR_BITS_PROPERTY = "tandem.kernels.vector-bits";

    /** Float vector width in bits, 0 when the scalar twins are forced. */
    public static final int VECTOR_BITS = readVectorBits();
    /** True when the vector kernels run. */
    public static final boolean ENABLED = VECTOR_BITS > 0;
    /** Float species of the vector kernels (the preferred one when scalar is forced, unused then). */
    static final VectorSpecies<Float> F = ENABLED
            ? VectorSpecies.of(float.class, VectorShape.forBitSize(VECTOR_BITS))
            : FloatVector.SPECIES_PREFERRED;
    /** Float lanes per vector. */
    static final int FL = F.length();
    /** Int species with the same lane count as {@link #F}. */
    static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** Short species with the same lane count as {@link #F} (half the bits). */
    static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(FL * 16));
    /** Bytes loaded at once when widening 8-bit quants to floats: max(8, FL). */
    static final int BYTE_LOAD = Math.max(8, FL);
    /** Byte species of {@link #BYTE_LOAD} lanes. */
    static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(BYTE_LOAD * 8));
    /** Float vectors per byte load. */
    static final int PARTS = BYTE_LOAD / FL;
    /**
     * Species of the Q8_0 integer dot ({@code Q8_0Matrix.dotQ8Vector}): 2 FL quants at a time,
     * bytes widened to 16-bit lanes ({@link #B2} to {@link #S2}), whose lane-pair sums are FL
     * ints ({@link #I}). At 512 bits one load covers a whole 32-quant block.
     */
    static final VectorSpecies<Short> S2 = VectorSpecies.of(short.class, VectorShape.forBitSize(FL * 32));
    /** Byte species of 2 FL lanes (the Q8_0 integer dot). */
    static final VectorSpecies<Byte> B2 = VectorSpecies.of(byte.class, VectorShape.forBitSize(FL * 16));
    /**
     * 16-bit lanes of the Q4_0 integer dot: 2 FL, at most 16 (a block's 16 nibble bytes), so
     * the Q4_0 integer kernel runs at 256 bits on 512-bit machines.
     */
    static final int Q4_LANES = Math.min(2 * FL, 16);
    /** Short species of {@link #Q4_LANES} lanes. */
    static final VectorSpecies<Short> S4 = VectorSpecies.of(short.class, VectorShape.forBitSize(Q4_LANES * 16));
    /** Byte species of {@link #Q4_LANES} lanes. */
    static final VectorSpecies<Byte> B4 = VectorSpecies.of(byte.class, VectorShape.forBitSize(Q4_LANES * 8));
    /** Int species of {@link #Q4_LANES} / 2 lanes (the lane-pair sums of the Q4_0 integer dot). */
    static final VectorSpecies<Integer> I4 = VectorSpecies.of(int.class, VectorShape.forBitSize(Q4_LANES * 16));
    /** Float species of {@link #Q4_LANES} / 2 lanes. */
    static final VectorSpecies<Float> F4 = VectorSpecies.of(float.class, VectorShape.forBitSize(Q4_LANES * 16));

    /** Lanes of the K-quants' per-sub-block passes: min(8, FL), eight sub-blocks in one or two steps. */
    static final int M8 = Math.min(8, FL);
    /** Float species of {@link #M8} lanes. */
    static final VectorSpecies<Float> FM = VectorSpecies.of(float.class, VectorShape.forBitSize(M8 * 32));
    /** Int species of {@link #M8} lanes. */
    static final VectorSpecies<Integer> IM = VectorSpecies.of(int.class, VectorShape.forBitSize(M8 * 32));
    /** Byte species of 8 lanes (the smallest byte vector), widened to {@link #FM} in 8 / M8 parts. */
    static final VectorSpecies<Byte> B8 = VectorSpecies.of(byte.class, VectorShape.S_64_BIT);

    static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private Simd() {
    }

    private static int readVectorBits() {
        int max = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        String text = System.getProperty(VECTOR_BITS_PROPERTY);
        if (text == null || text.isBlank()) {
            return max;
        }
        int bits;
        try {
            bits = Integer.parseInt(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(VECTOR_BITS_PROPERTY + " must be 0, 128, 256 or 512, got '" + text + "'");
        }
        if (bits != 0 && bits != 128 && bits != 256 && bits != 512) {
            throw new IllegalArgumentException(VECTOR_BITS_PROPERTY + " must be 0, 128, 256 or 512, got " + bits);
        }
        return bits;
    }

    /** The CPU's widest float vector in bits (what the Vector API prefers on this machine). */
    public static int nativeBits() {
        return FloatVector.SPECIES_PREFERRED.vectorBitSize();
    }

    /** A one-line description for logs and benchmark reports. */
    public static String describe() {
        if (!ENABLED) {
            return "scalar (vector kernels disabled)";
        }
        return "vector " + VECTOR_BITS + "-bit (" + FL + " floats)"
                + (VECTOR_BITS > nativeBits() ? ", emulated: this CPU's widest is " + nativeBits() + "-bit" : "");
    }

    /** IEEE half (bits in the low 16 of {@code bits}) to float. */
    static float halfToFloat(short bits) {
        return Float.float16ToFloat(bits);
    }

    /** Reads a little-endian IEEE half at byte {@code offset} of {@code seg} as a float. */
    static float half(MemorySegment seg, long offset) {
        return Float.float16ToFloat(seg.get(I16_LE, offset));
    }

    /**
     * Widening halves to floats without a float16 vector instruction, written inline at each use
     * as {@code (S2I(h) << 13 & HALF_BITS) as float * HALF_SCALE}: S2I sign-extends, so after the
     * shift bit 31 holds the sign and bits 13..27 the half's exponent and mantissa, exact up to
     * a factor 2^112 that one multiply restores (subnormal halves come out right too). Half
     * infinities and NaNs are not preserved (they become large finite values); weights and KV
     * entries are finite. bfloat16 is simply {@code S2I(b) << 16}.
     * <pre>half: | sign 1 | exp 5 (bias 15) | mantissa 10 |   float: | sign 1 | exp 8 (bias 127) | mantissa 23 |</pre>
     * Kept inline rather than in a helper: a vector passed across a call that C2 declines to
     * inline is boxed, and the kernel then falls back to plain Java.
     */
    static final int HALF_BITS = 0x8fffe000;
    /** 2^112 = 2^(127 - 15): the exponent-bias difference between float and half. */
    static final float HALF_SCALE = 0x1p112f;

    /** bfloat16 (bits in the low 16 of {@code bits}) to float. */
    static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }
}
