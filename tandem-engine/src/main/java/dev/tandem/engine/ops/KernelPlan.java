package dev.tandem.engine.ops;

/**
 * How {@link MatMul} multiplies one weight matrix: the decode kernel for token counts below
 * {@code gemmMinTokens}, the blocked matrix-matrix product from there. Chosen per weight type at
 * model load by {@link KernelTuner}, or fixed by the {@code tandem.kernels.*} properties.
 *
 * @param decode        the dot-product kernel of the decode path
 * @param gemmMinTokens token count from which the blocked matrix-matrix product runs (at least 2)
 */
public record KernelPlan(DecodeKernel decode, int gemmMinTokens) {
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
    }

    /** The plan a matrix has before any measurement: integer dots where the type has them, blocked from 4 tokens. */
    static KernelPlan defaultFor(WeightMatrix m) {
        return new KernelPlan(m.hasQ8Dot() ? DecodeKernel.INTEGER : DecodeKernel.FLOAT, MatMul.GEMM_MIN_TOKENS);
    }

    @Override
    public String toString() {
        return decode.name().toLowerCase(java.util.Locale.ROOT) + " dot below " + gemmMinTokens + " tokens, blocked from "
                + gemmMinTokens;
    }
}
