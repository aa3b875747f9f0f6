package dev.tandem.engine.loader;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.engine.gguf.FloatBits;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.gguf.GgufTensor;
import dev.tandem.engine.gguf.Quantizer;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes Hugging Face model directories for tests: safetensors files, config.json,
 * tokenizer.json and tokenizer_config.json, made from a GGUF file by undoing what the converter
 * does (names, shapes, the q/k RoPE permutation, tokenizer metadata).
 */
final class HfFixture {
    /** A tensor to write: row-major shape, values, stored as dtype F32, F16 or BF16. */
    record Tensor(String dtype, long[] shape, float[] values) {
    }

    private HfFixture() {
    }

    static void writeSafetensors(Path file, Map<String, Tensor> tensors) throws IOException {
        ObjectNode header = Json.MAPPER.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            long bytes = (long) t.values().length * (t.dtype().equals("F32") ? 4 : 2);
            ObjectNode entry = header.putObject(e.getKey());
            entry.put("dtype", t.dtype());
            ArrayNode shape = entry.putArray("shape");
            for (long d : t.shape()) {
                shape.add(d);
            }
            entry.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = Json.MAPPER.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        try (OutputStream out = Files.newOutputStream(file)) {
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded);
            out.write(length.array());
            out.write(json);
            out.write(" ".repeat(padded - json.length).getBytes(StandardCharsets.US_ASCII));
            for (Tensor t : tensors.values()) {
                out.write(encode(t));
            }
        }
    }

    static byte[] encode(Tensor t) {
        float[] v = t.values();
        ByteBuffer b = ByteBuffer.allocate(v.length * (t.dtype().equals("F32") ? 4 : 2)).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            switch (t.dtype()) {
                case "F32" -> b.putFloat(x);
                case "F16" -> b.putShort(FloatBits.toF16(x));
                case "BF16" -> b.putShort(FloatBits.toBf16(x));
                default -> throw new IllegalArgumentException(t.dtype());
            }
        }
        return b.array();
    }

    /** GGUF rows back into Hugging Face order: the inverse of {@link HfConverter#sourceRow}. */
    static float[] unpermute(float[] gguf, int rows, int cols, int heads) {
        float[] hf = new float[gguf.length];
        int headDim = rows / heads;
        for (int r = 0; r < rows; r++) {
            System.arraycopy(gguf, r * cols, hf, HfConverter.sourceRow(r, headDim) * cols, cols);
        }
        return hf;
    }

    /**
     * The tensors of a llama-named GGUF under Hugging Face names, with q/k rows unpermuted when
     * {@code permuted} (llama architecture).
     */
    static Map<String, Tensor> tensorsFromGguf(GgufFile g, String dtype, boolean permuted) {
        int heads = (int) g.integer(g.string("general.architecture") + ".attention.head_count");
        int kvHeads = (int) g.integer(g.string("general.architecture") + ".attention.head_count_kv");
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (GgufTensor t : g.tensors().values()) {
            String name = hfName(t.name());
            if (name == null) {
                continue;
            }
            float[] values = Quantizer.dequantize(t);
            long[] dims = t.dims();
            long[] shape = new long[dims.length];
            for (int i = 0; i < dims.length; i++) {
                shape[i] = dims[dims.length - 1 - i];
            }
            int rows = (int) t.rows();
            int cols = (int) t.cols();
            if (dims.length == 1) {
                rows = (int) dims[0];
                cols = 1;
            }
            if (permuted && t.name().matches("blk\\.\\d+\\.attn_q\\.(weight|bias)")) {
                values = unpermute(values, rows, cols, heads);
            } else if (permuted && t.name().matches("blk\\.\\d+\\.attn_k\\.(weight|bias)")) {
                values = unpermute(values, rows, cols, kvHeads);
            }
            out.put(name, new Tensor(dims.length == 1 ? "F32" : dtype, shape, values));
        }
        return out;
    }

    static String hfName(String gguf) {
        return switch (gguf) {
            case "token_embd.weight" -> "model.embed_tokens.weight";
            case "output_norm.weight" -> "model.norm.weight";
            case "output.weight" -> "lm_head.weight";
            case "rope_freqs.weight" -> null;
            default -> {
                String[] p = gguf.split("\\.", 3);
                String suffix = switch (p[2]) {
                    case "attn_norm.weight" -> "input_layernorm.weight";
                    case "attn_q.weight" -> "self_attn.q_proj.weight";
                    case "attn_k.weight" -> "self_attn.k_proj.weight";
                    case "attn_v.weight" -> "self_attn.v_proj.weight";
                    case "attn_q.bias" -> "self_attn.q_proj.bias";
                    case "attn_k.bias" -> "self_attn.k_proj.bias";
                    case "attn_v.bias" -> "self_attn.v_proj.bias";
                    case "attn_output.weight" -> "self_attn.o_proj.weight";
                    case "ffn_norm.weight" -> "post_attention_layernorm.weight";
                    case "ffn_gate.weight" -> "mlp.gate_proj.weight";
                    case "ffn_up.weight" -> "mlp.up_proj.weight";
                    case "ffn_down.weight" -> "mlp.down_proj.weight";
                    default -> throw new IllegalArgumentException(gguf);
                };
                yield "model.layers." + p[1] + "." + suffix;
            }
        };
    }

    /** config.json for a llama-named GGUF's hyper-parameters. */
    static ObjectNode config(GgufFile g, String hfArchitecture) {
        String a = g.string("general.architecture");
        ObjectNode c = Json.MAPPER.createObjectNode();
        c.putArray("architectures").add(hfArchitecture);
        c.put("hidden_size", g.integer(a + ".embedding_length"));
        c.put("num_hidden_layers", g.integer(a + ".block_count"));
        c.put("num_attention_heads", g.integer(a + ".attention.head_count"));
        c.put("num_key_value_heads", g.integer(a + ".attention.head_count_kv"));
        c.put("intermediate_size", g.integer(a + ".feed_forward_length"));
        c.put("vocab_size", g.strings("tokenizer.ggml.tokens").length);
        c.put("max_position_embeddings", g.integer(a + ".context_length"));
        c.put("rms_norm_eps", g.real(a + ".attention.layer_norm_rms_epsilon", 0));
        if (g.has(a + ".rope.freq_base")) {
            c.put("rope_theta", g.real(a + ".rope.freq_base", 0));
        }
        c.put("tie_word_embeddings", g.tensorOrNull("output.weight") == null);
        c.put("torch_dtype", "float32");
        return c;
    }

    /** tokenizer.json for a GGUF "llama" (SentencePiece) vocabulary: BPE with byte fallback. */
    static ObjectNode sentencePieceTokenizer(GgufFile g) {
        String[] tokens = g.strings("tokenizer.ggml.tokens");
        long[] types = g.integers("tokenizer.ggml.token_type");
        ObjectNode root = Json.MAPPER.createObjectNode();
        root.put("version", "1.0");
        ArrayNode added = root.putArray("added_tokens");
        for (int id = 0; id < tokens.length; id++) {
            if (types[id] == HfTokenizer.CONTROL || types[id] == HfTokenizer.UNKNOWN) {
                added.addObject().put("id", id).put("content", tokens[id]).put("special", true)
                        .put("normalized", false);
            }
        }
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.put("unk_token", tokens[0]);
        model.put("byte_fallback", true);
        ObjectNode vocab = model.putObject("vocab");
        for (int id = 0; id < tokens.length; id++) {
            vocab.put(tokens[id], id);
        }
        model.putArray("merges");
        root.putObject("decoder").put("type", "Sequence");
        return root;
    }

    static void write(Path file, ObjectNode json) throws IOException {
        Files.write(file, Json.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(json));
    }
}
