package dev.tandem.engine.loader;

import dev.tandem.core.ConfigException;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The hyper-parameters of a Llama-family model: enough to lay out every tensor and write the
 * metadata llama.cpp reads. The named shapes copy real models' configurations.
 *
 * @param name               short name, e.g. {@code tinyllama-1.1b}
 * @param architecture       GGUF architecture: {@code llama} or {@code qwen2}
 * @param embeddingLength    model width (hidden size)
 * @param blockCount         transformer layers
 * @param headCount          query heads
 * @param headCountKv        key/value heads (grouped-query attention when fewer than headCount)
 * @param feedForwardLength  SwiGLU hidden width
 * @param vocabSize          tokens
 * @param contextLength      training context, tokens
 * @param ropeFreqBase       RoPE theta
 * @param rmsEpsilon         RMSNorm epsilon
 * @param tiedEmbeddings     no {@code output.weight}: the output projection reuses {@code token_embd.weight}
 * @param qkvBias            q/k/v projections have biases (Qwen2)
 * @param ropeScaling        Llama 3 RoPE frequency scaling, or null
 */
public record ModelShape(String name, String architecture, int embeddingLength, int blockCount, int headCount,
                         int headCountKv, int feedForwardLength, int vocabSize, int contextLength, float ropeFreqBase,
                         float rmsEpsilon, boolean tiedEmbeddings, boolean qkvBias, Llama3RopeScaling ropeScaling) {

    /**
     * Llama 3's RoPE scaling ({@code rope_type: llama3} in config.json). llama.cpp stores it as a
     * per-frequency divisor tensor {@code rope_freqs.weight}, see {@link #ropeFrequencyFactors()}.
     */
    public record Llama3RopeScaling(float factor, float lowFreqFactor, float highFreqFactor, int originalContextLength) {
        public Llama3RopeScaling {
            if (!(factor > 0) || !(lowFreqFactor > 0) || !(highFreqFactor > lowFreqFactor) || originalContextLength <= 0) {
                throw new ConfigException("invalid llama3 rope scaling: factor=" + factor + " low=" + lowFreqFactor
                        + " high=" + highFreqFactor + " original context=" + originalContextLength);
            }
        }

        /**
         * The divisors as llama.cpp's converter computes them: frequency {@code f_i = 1 / base^(2i/dim)}
         * (in float, as its torch code does), wavelength {@code 2π/f_i}; the divisor is 1 below
         * {@code original/high}, {@code factor} above {@code original/low}, and
         * {@code 1 / ((1 - s)/factor + s)} between, with {@code s = (original/wavelength - low) / (high - low)}.
         */
        public float[] factors(int dim, float ropeFreqBase) {
            float[] out = new float[dim / 2];
            double lowWavelength = (double) originalContextLength / lowFreqFactor;
            double highWavelength = (double) originalContextLength / highFreqFactor;
            for (int i = 0; i < out.length; i++) {
                float exponent = (float) (2 * i) / dim;
                float freq = 1.0f / (float) Math.pow(ropeFreqBase, exponent);
                double wavelength = 2 * Math.PI / freq;
                if (wavelength < highWavelength) {
                    out[i] = 1f;
                } else if (wavelength > lowWavelength) {
                    out[i] = factor;
                } else {
                    double smooth = (originalContextLength / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                    out[i] = (float) (1 / ((1 - smooth) / factor + smooth));
                }
            }
            return out;
        }
    }

    public ModelShape {
        if (!architecture.equals("llama") && !architecture.equals("qwen2")) {
            throw new ConfigException("shape " + name + ": unsupported architecture " + architecture + " (llama, qwen2)");
        }
        if (embeddingLength <= 0 || blockCount <= 0 || headCount <= 0 || headCountKv <= 0 || feedForwardLength <= 0
                || vocabSize <= 0 || contextLength <= 0) {
            throw new ConfigException("shape " + name + ": sizes must be positive");
        }
        if (embeddingLength % headCount != 0 || headCount % headCountKv != 0) {
            throw new ConfigException("shape " + name + ": embedding " + embeddingLength + " must divide into "
                    + headCount + " heads, and the heads into " + headCountKv + " kv heads");
        }
        if ((embeddingLength / headCount) % 2 != 0) {
            throw new ConfigException("shape " + name + ": head dimension " + embeddingLength / headCount + " must be even");
        }
    }

    public static final List<ModelShape> KNOWN = List.of(
            // A few hundred kilobytes: fast tests of everything downstream.
            new ModelShape("tiny", "llama", 64, 2, 4, 2, 192, 512, 512, 10000f, 1e-5f, false, false, null),
            // Karpathy's llama2.c TinyStories 15M.
            new ModelShape("stories15m", "llama", 288, 6, 6, 6, 768, 32000, 256, 10000f, 1e-5f, false, false, null),
            // TinyLlama/TinyLlama-1.1B-Chat-v1.0.
            new ModelShape("tinyllama-1.1b", "llama", 2048, 22, 32, 4, 5632, 32000, 2048, 10000f, 1e-5f, false, false, null),
            // meta-llama/Llama-3.2-1B.
            new ModelShape("llama-3.2-1b", "llama", 2048, 16, 32, 8, 8192, 128256, 131072, 500000f, 1e-5f, true, false,
                    new Llama3RopeScaling(32f, 1f, 4f, 8192)),
            // Qwen/Qwen2.5-0.5B.
            new ModelShape("qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, 32768, 1_000_000f, 1e-6f, true, true, null));

    public static Optional<ModelShape> named(String name) {
        return KNOWN.stream().filter(s -> s.name.equalsIgnoreCase(name)).findFirst();
    }

    public static String knownNames() {
        return KNOWN.stream().map(ModelShape::name).collect(Collectors.joining(", "));
    }

    public int headDim() {
        return embeddingLength / headCount;
    }

    /** Width of the key (and value) projection: kv heads x head dim. */
    public int kvDim() {
        return headCountKv * headDim();
    }

    /** Weights in the model, counting a tied embedding once. */
    public long parameterCount() {
        long d = embeddingLength;
        long perLayer = 2 * d + d * d + 2 * d * kvDim() + d * d + 3 * d * feedForwardLength
                + (qkvBias ? d + 2L * kvDim() : 0);
        return (long) vocabSize * d * (tiedEmbeddings ? 1 : 2) + blockCount * perLayer + d;
    }

    /**
     * Llama 3's per-frequency RoPE divisors for {@code rope_freqs.weight}, or null without
     * scaling. See {@link Llama3RopeScaling#factors}.
     */
    public float[] ropeFrequencyFactors() {
        return ropeScaling == null ? null : ropeScaling.factors(headDim(), ropeFreqBase);
    }
}
