package dev.tandem.engine.ops;

/**
 * How {@link MatMul} multiplies one weight matrix: the decode kernel's dots for token counts below
 * {@code rowsMinTokens}, row tiles (rows dequantised once for all tokens) from there, the blocked
 * matrix-matrix product from {@code gemmMinTokens}. Chosen per weight type at model load by
 * {@link KernelTuner}, or fixed by the {@code tandem.kernels.*} properties.
 *
 * @param decode        the dot-product kernel of the decode path
 * @param rowsMinTokens token count from which row tiles run (2..gemmMinTokens; equal to it: never)
 * @param gemmMinTokens token count from which the blocked matrix-matrix product runs (at least 2)
 */
public record KernelPlan(DecodeKernel decode, int rowsMinTokens, int gemmMinTokens) {
    /** The largest threshold a plan may have (a step of 64 tokens and more always runs blocked). */
    public static final int MAX_GEMM_MIN_TOKENS = 64;

    /** The two formulations of the decode dot product. */
    public enum DecodeKernel {
        /** Weights widened to floats in registers, multiplied with float activations ({@link WeightMatrix#dot}). */
        FLOAT,
        /** Activations quantised to Q8 once per call, integer products per block ({@link WeightMatrix#dotQ8}). */
        INTEGER
    }

    public KernelPlan {
        if (gemmMinTokens < 2 || gemmMinTokens > MAX_GEMM_MIN_TOKENS) {
            throw new IllegalArgumentException("gemmMinTokens must be in 2.." + MAX_GEMM_MIN_TOKENS + ", got "
                    + gemmMinTokens);
        }
        if (rowsMinTokens < 2 || rowsMinTokens > gemmMinTokens) {
            throw new IllegalArgumentException("rowsMinTokens must be in 2.." + gemmMinTokens + ", got " + rowsMinTokens);
        }
    }

    /** A plan without row tiles: dots below {@code gemmMinTokens}, blocked from there. */
    public KernelPlan(DecodeKernel decode, int gemmMinTokens) {
        this(decode, gemmMinTokens, gemmMinTokens);
    }

    /**
     * The plan a matrix has before any measurement: integer dots where the type has them, row
     * tiles from {@link MatMul#ROWS_MIN_TOKENS} tokens, blocked from {@link MatMul#GEMM_MIN_TOKENS}.
     */
    static KernelPlan defaultFor(WeightMatrix m) {
        return new KernelPlan(m.hasQ8Dot() ? DecodeKernel.INTEGER : DecodeKernel.FLOAT, MatMul.ROWS_MIN_TOKENS,
                MatMul.GEMM_MIN_TOKENS);
    }

    @Override
    public String toString() {
        return decode.name().toLowerCase(java.util.Locale.ROOT) + " dot below " + rowsMinTokens + " tokens, row tiles from "
                + rowsMinTokens + ", blocked from " + gemmMinTokens;
    }
}
