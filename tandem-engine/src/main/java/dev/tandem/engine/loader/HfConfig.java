package dev.tandem.engine.loader;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.ModelFormatException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The parts of a Hugging Face {@code config.json} a Llama-family model needs, checked.
 *
 * @param hfArchitecture     {@code architectures[0]}, e.g. {@code LlamaForCausalLM}
 * @param architecture       the GGUF architecture it converts to ({@code llama} or {@code qwen2})
 * @param hiddenSize         model width
 * @param layers             {@code num_hidden_layers}
 * @param heads              {@code num_attention_heads}
 * @param kvHeads            {@code num_key_value_heads} (defaults to heads)
 * @param intermediateSize   SwiGLU hidden width
 * @param vocabSize          rows of the embedding
 * @param contextLength      {@code max_position_embeddings}
 * @param rmsEpsilon         {@code rms_norm_eps}
 * @param ropeTheta          {@code rope_theta}, or null when absent (llama.cpp then uses 10000)
 * @param headDim            per-head width: {@code head_dim} if given, else hidden / heads
 * @param explicitHeadDim    whether config.json gave {@code head_dim} different from hidden / heads
 * @param llama3RopeScaling  {@code rope_scaling} of type llama3, or null
 * @param linearRopeFactor   {@code rope_scaling} of type linear: its factor, or 0
 * @param bosTokenId         {@code bos_token_id}, or null
 * @param eosTokenId         {@code eos_token_id} (the first one if a list), or null
 */
public record HfConfig(String hfArchitecture, String architecture, int hiddenSize, int layers, int heads, int kvHeads,
                       int intermediateSize, int vocabSize, int contextLength, double rmsEpsilon, Double ropeTheta,
                       int headDim, boolean explicitHeadDim, ModelShape.Llama3RopeScaling llama3RopeScaling,
                       double linearRopeFactor, Integer bosTokenId, Integer eosTokenId) {

    /** Hugging Face architectures Tandem converts, and the GGUF architecture of each. */
    public static final Map<String, String> SUPPORTED = Map.of(
            "LlamaForCausalLM", "llama",
            "MistralForCausalLM", "llama",
            "Qwen2ForCausalLM", "qwen2");

    /** Whether llama.cpp's converter permutes q/k rows for this architecture (HF rotate-half to GGUF interleaved RoPE). */
    public boolean permutesQk() {
        return architecture.equals("llama");
    }

    public static HfConfig read(Path configJson) {
        JsonNode root = Json.read(configJson);
        String where = configJson.toString();
        JsonNode archs = root.get("architectures");
        if (archs == null || !archs.isArray() || archs.isEmpty() || !archs.get(0).isTextual()) {
            throw new ModelFormatException(where + ": missing key architectures (expected one of "
                    + String.join(", ", SUPPORTED.keySet()) + ")");
        }
        String hfArch = archs.get(0).asText();
        String arch = SUPPORTED.get(hfArch);
        if (arch == null) {
            throw new ModelFormatException(where + ": unsupported architecture " + hfArch + " (supported: "
                    + String.join(", ", SUPPORTED.keySet()) + ")");
        }
        int hidden = positiveInt(root, "hidden_size", where);
        int layers = positiveInt(root, "num_hidden_layers", where);
        int heads = positiveInt(root, "num_attention_heads", where);
        int kvHeads = root.hasNonNull("num_key_value_heads") ? positiveInt(root, "num_key_value_heads", where) : heads;
        int ffn = positiveInt(root, "intermediate_size", where);
        int vocab = positiveInt(root, "vocab_size", where);
        int context = positiveInt(root, "max_position_embeddings", where);
        double eps = number(root, "rms_norm_eps", where);
        Double theta = root.hasNonNull("rope_theta") ? number(root, "rope_theta", where) : null;
        int headDim = root.hasNonNull("head_dim") ? positiveInt(root, "head_dim", where) : hidden / heads;
        if (heads % kvHeads != 0) {
            throw new ModelFormatException(where + ": num_attention_heads " + heads
                    + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        if (headDim % 2 != 0 || (!root.hasNonNull("head_dim") && hidden % heads != 0)) {
            throw new ModelFormatException(where + ": hidden_size " + hidden + " and " + heads
                    + " heads give no even head dimension");
        }
        ModelShape.Llama3RopeScaling llama3 = null;
        double linear = 0;
        JsonNode scaling = root.get("rope_scaling");
        if (scaling != null && scaling.isObject()) {
            String type = scaling.path("rope_type").asText(scaling.path("type").asText(""));
            switch (type) {
                case "llama3" -> llama3 = new ModelShape.Llama3RopeScaling(
                        (float) scaling.path("factor").asDouble(8.0),
                        (float) scaling.path("low_freq_factor").asDouble(1.0),
                        (float) scaling.path("high_freq_factor").asDouble(4.0),
                        scaling.path("original_max_position_embeddings").asInt(8192));
                case "linear" -> linear = number(scaling, "factor", where + " rope_scaling");
                case "default", "" -> { }
                default -> throw new ModelFormatException(where + ": unsupported rope_scaling type " + type
                        + " (supported: llama3, linear)");
            }
        }
        return new HfConfig(hfArch, arch, hidden, layers, heads, kvHeads, ffn, vocab, context, eps, theta, headDim,
                root.hasNonNull("head_dim") && headDim != hidden / heads, llama3, linear,
                tokenId(root.get("bos_token_id")), tokenId(root.get("eos_token_id")));
    }

    private static Integer tokenId(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isArray()) {
            return node.isEmpty() || !node.get(0).canConvertToInt() ? null : node.get(0).asInt();
        }
        return node.canConvertToInt() ? node.asInt() : null;
    }

    private static int positiveInt(JsonNode root, String key, String where) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) {
            throw new ModelFormatException(where + ": missing key " + key);
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() <= 0) {
            throw new ModelFormatException(where + ": " + key + " must be a positive integer, got " + v);
        }
        return v.asInt();
    }

    private static double number(JsonNode root, String key, String where) {
        JsonNode v = root.get(key);
        if (v == null || v.isNull()) {
            throw new ModelFormatException(where + ": missing key " + key);
        }
        if (!v.isNumber() || !(v.asDouble() > 0)) {
            throw new ModelFormatException(where + ": " + key + " must be a positive number, got " + v);
        }
        return v.asDouble();
    }
}
