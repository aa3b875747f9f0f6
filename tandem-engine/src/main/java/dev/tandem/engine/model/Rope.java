package dev.tandem.engine.model;

/**
 * Rotary position embedding (Su et al. 2021, "RoFormer"). Pair {@code i} (0 .. ropeDim/2) of a
 * head is rotated by {@code angle = position * freq[i]}, with
 * {@code freq[i] = base^(-2i / ropeDim) / factor[i]} (factor from the rope_freqs tensor, or from
 * the llama3 / linear scaling in the metadata). Elements from ropeDim to headDim pass through.
 * <pre>
 * NORM (llama): pair i = (2i, 2i+1)            NEOX (qwen2): pair i = (i, i + ropeDim/2)
 * (a, b) -&gt; (a cos - b sin, a sin + b cos)
 * </pre>
 *
 * <p>Thread ownership: immutable after construction; {@link #angles} writes caller scratch.
 */
final class Rope {
    private final int headDim;
    private final int ropeDim;
    private final boolean neox;
    private final double[] freq; // [ropeDim/2] radians per position

    Rope(ModelConfig c, float[] freqFactors) {
        this.headDim = c.headDim();
        this.ropeDim = c.ropeDim();
        this.neox = c.ropeStyle() == ModelConfig.RopeStyle.NEOX;
        this.freq = new double[ropeDim / 2];
        ModelConfig.RopeScaling s = c.ropeScaling();
        for (int i = 0; i < freq.length; i++) {
            double f = Math.pow(c.ropeBase(), -2.0 * i / ropeDim);
            if (freqFactors != null) {
                f /= freqFactors[i];
            } else if (s.type().equals("linear")) {
                f /= s.factor();
            } else if (s.type().equals("llama3")) {
                f = llama3(f, s);
            }
            freq[i] = f;
        }
    }

    /** Meta's llama3 scaling: long wavelengths slowed by factor, short kept, a smooth ramp between. */
    static double llama3(double f, ModelConfig.RopeScaling s) {
        double wavelength = 2 * Math.PI / f;
        double lowFreqWavelength = s.originalContextLength() / (double) s.lowFreqFactor();
        double highFreqWavelength = s.originalContextLength() / (double) s.highFreqFactor();
        if (wavelength < highFreqWavelength) {
            return f;
        }
        if (wavelength > lowFreqWavelength) {
            return f / s.factor();
        }
        double smooth = (s.originalContextLength() / wavelength - s.lowFreqFactor())
                / (s.highFreqFactor() - s.lowFreqFactor());
        return (1 - smooth) * f / s.factor() + smooth * f;
    }

    /** Pairs per head. */
    int pairs() {
        return freq.length;
    }

    /** Writes cos and sin of every pair's angle at {@code position} to {@code cs[off ..]} as [cos, sin] pairs. */
    void angles(int position, float[] cs, int off) {
        for (int i = 0; i < freq.length; i++) {
            double a = position * freq[i];
            cs[off + 2 * i] = (float) Math.cos(a);
            cs[off + 2 * i + 1] = (float) Math.sin(a);
        }
    }

    /** Rotates {@code heads} consecutive heads at {@code v[off ..]} by the angles at {@code cs[csOff ..]}. */
    void rotate(float[] v, int off, int heads, float[] cs, int csOff) {
        int half = ropeDim / 2;
        for (int h = 0; h < heads; h++) {
            int base = off + h * headDim;
            for (int i = 0; i < half; i++) {
                float cos = cs[csOff + 2 * i];
                float sin = cs[csOff + 2 * i + 1];
                int i0 = neox ? base + i : base + 2 * i;
                int i1 = neox ? i0 + half : i0 + 1;
                float a = v[i0];
                float b = v[i1];
                v[i0] = a * cos - b * sin;
                v[i1] = a * sin + b * cos;
            }
        }
    }
}
