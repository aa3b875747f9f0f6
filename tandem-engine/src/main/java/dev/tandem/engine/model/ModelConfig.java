package dev.tandem.engine.model;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.gguf.GgufTensor;

/**
 * The hyper-parameters of a Llama-family model, read from GGUF metadata
 * ({@code <arch>.embedding_length}, {@code <arch>.attention.head_count}, ...).
 *
 * @param architecture   {@code general.architecture}: "llama" (also Mistral-style models) or "qwen2"
 * @param embeddingDim   model width (elements of the residual stream)
 * @param layerCount     transformer blocks
 * @param headCount      query heads
 * @param kvHeadCount    key/value heads (GQA when fewer than query heads)
 * @param headDim        elements per head
 * @param ffnDim         hidden width of the SwiGLU feed-forward
 * @param vocabSize      tokens (rows of the embedding and output matrices)
 * @param contextLength  most positions per sequence
 * @param rmsEps         RMSNorm epsilon
 * @param ropeBase       RoPE frequency base (theta)
 * @param ropeDim        leading elements of each head that RoPE rotates (the rest pass through)
 * @param ropeStyle      how elements are paired for rotation
 * @param ropeScaling    frequency scaling (none, linear, llama3)
 */
public record ModelConfig(String architecture, int embeddingDim, int layerCount, int headCount, int kvHeadCount,
                          int headDim, int ffnDim, int vocabSize, int contextLength, float rmsEps, float ropeBase,
                          int ropeDim, RopeStyle ropeStyle, RopeScaling ropeScaling) {

    /** How RoPE pairs the elements of a head. */
    public enum RopeStyle {
        /** Adjacent pairs (2i, 2i+1): llama.cpp's NORM mode, used for llama GGUFs (whose Q/K rows are permuted). */
        NORM,
        /** Halves (i, i + ropeDim/2): llama.cpp's NEOX mode, used for qwen2. */
        NEOX
    }

    /**
     * RoPE frequency scaling.
     *
     * @param type                  "none", "linear" or "llama3"
     * @param factor                context extension factor (linear: frequencies divided by it)
     * @param lowFreqFactor         llama3: wavelengths above originalContext / lowFreqFactor are fully scaled
     * @param highFreqFactor        llama3: wavelengths below originalContext / highFreqFactor are kept
     * @param originalContextLength llama3: the pre-training context, positions
     */
    public record RopeScaling(String type, float factor, float lowFreqFactor, float highFreqFactor,
                              int originalContextLength) {
        public static final RopeScaling NONE = new RopeScaling("none", 1f, 1f, 1f, 0);
    }

    public ModelConfig {
        if (embeddingDim <= 0 || layerCount <= 0 || headCount <= 0 || kvHeadCount <= 0 || headDim <= 0 || ffnDim <= 0
                || vocabSize <= 0 || contextLength <= 0) {
            throw new ModelFormatException("invalid model shape: dim=" + embeddingDim + " layers=" + layerCount
                    + " heads=" + headCount + " kvHeads=" + kvHeadCount + " headDim=" + headDim + " ffn=" + ffnDim
                    + " vocab=" + vocabSize + " context=" + contextLength);
        }
        if (headCount % kvHeadCount != 0) {
            throw new ModelFormatException("query heads (" + headCount + ") must be a multiple of key/value heads ("
                    + kvHeadCount + ")");
        }
        if (ropeDim <= 0 || ropeDim > headDim || ropeDim % 2 != 0) {
            throw new ModelFormatException("rope.dimension_count " + ropeDim + " must be even and in 2.." + headDim);
        }
    }

    /** Query width: headCount * headDim. */
    public int queryDim() {
        return headCount * headDim;
    }

    /** Key/value width: kvHeadCount * headDim. */
    public int kvDim() {
        return kvHeadCount * headDim;
    }

    /** The KV-cache layout this model needs, for a pool of the given block size and dtype. */
    public KvLayout kvLayout(int blockSizeTokens, KvDtype dtype) {
        return new KvLayout(blockSizeTokens, layerCount, kvHeadCount, headDim, dtype);
    }

    /** Reads the configuration of {@code gguf}; an unsupported architecture is a {@link ModelFormatException}. */
    public static ModelConfig from(GgufFile gguf) {
        String arch = gguf.string("general.architecture", null);
        if (arch == null) {
            throw new ModelFormatException(gguf.path() + ": missing metadata key general.architecture");
        }
        RopeStyle style = switch (arch) {
            case "llama" -> RopeStyle.NORM;
            case "qwen2" -> RopeStyle.NEOX;
            default -> throw new ModelFormatException(gguf.path() + ": unsupported architecture '" + arch
                    + "' (supported: llama, qwen2)");
        };
        String p = arch + ".";
        int dim = intKey(gguf, p + "embedding_length", -1);
        int heads = intKey(gguf, p + "attention.head_count", -1);
        int kvHeads = intKey(gguf, p + "attention.head_count_kv", heads);
        int headDim = intKey(gguf, p + "attention.key_length", heads > 0 ? dim / heads : -1);
        int valueDim = intKey(gguf, p + "attention.value_length", headDim);
        if (valueDim != headDim) {
            throw new ModelFormatException(gguf.path() + ": key length " + headDim + " != value length " + valueDim
                    + " is not supported");
        }
        GgufTensor embedding = gguf.tensor("token_embd.weight");
        int vocab = intKey(gguf, p + "vocab_size", (int) embedding.rows());
        float ropeBase = (float) gguf.real(p + "rope.freq_base", 10000.0);
        return new ModelConfig(arch, dim, intKey(gguf, p + "block_count", -1), heads, kvHeads, headDim,
                intKey(gguf, p + "feed_forward_length", -1), vocab, intKey(gguf, p + "context_length", -1),
                (float) gguf.real(p + "attention.layer_norm_rms_epsilon", 1e-5), ropeBase,
                intKey(gguf, p + "rope.dimension_count", headDim), style, ropeScaling(gguf, p));
    }

    private static RopeScaling ropeScaling(GgufFile gguf, String p) {
        String type = gguf.string(p + "rope.scaling.type", "none");
        float factor = (float) gguf.real(p + "rope.scaling.factor", 1.0);
        boolean llama3Keys = gguf.has(p + "rope.scaling.low_freq_factor") || gguf.has(p + "rope.scaling.high_freq_factor");
        if (llama3Keys && type.equals("none")) {
            type = "llama3";
        }
        return switch (type) {
            case "none" -> RopeScaling.NONE;
            case "linear" -> new RopeScaling("linear", factor, 1f, 1f, 0);
            case "llama3" -> new RopeScaling("llama3", factor,
                    (float) gguf.real(p + "rope.scaling.low_freq_factor", 1.0),
                    (float) gguf.real(p + "rope.scaling.high_freq_factor", 4.0),
                    intKey(gguf, p + "rope.scaling.original_context_length", 8192));
            default -> throw new ModelFormatException(gguf.path() + ": unsupported rope scaling type '" + type
                    + "' (supported: none, linear, llama3)");
        };
    }

    private static int intKey(GgufFile gguf, String key, int fallback) {
        long v = gguf.integer(key, fallback);
        if (v < 0) {
            throw new ModelFormatException(gguf.path() + ": missing metadata key " + key);
        }
        if (v > Integer.MAX_VALUE) {
            throw new ModelFormatException(gguf.path() + ": metadata key " + key + " is too large: " + v);
        }
        return (int) v;
    }
}
