package dev.tandem.engine.model;

import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufWriter;
import dev.tandem.engine.gguf.Quantizer;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Test models: small Llama-family GGUF files with seeded random weights, one knob per feature
 * the forward pass supports (architecture, GQA, partial rotary, rope scaling, biases, tied
 * output, weight type).
 *
 * @param architecture   "llama" or "qwen2"
 * @param matrixType     type of every matrix (1-D tensors are F32)
 * @param ropeDim        rope.dimension_count (headDim = 16)
 * @param ropeScaling    "none", "freqs" (rope_freqs tensor) or "llama3" (metadata keys)
 * @param biases         q/k/v biases
 * @param tiedOutput     no output.weight
 */
record TinyModel(String architecture, GgmlType matrixType, int ropeDim, String ropeScaling, boolean biases,
                 boolean tiedOutput) {
    static final int DIM = 64;
    static final int LAYERS = 2;
    static final int HEADS = 4;
    static final int KV_HEADS = 2;
    static final int HEAD_DIM = DIM / HEADS;
    static final int FFN = 96;
    static final int VOCAB = 96;
    static final int CONTEXT = 64;
    static final float ROPE_BASE = 500f;
    static final float EPS = 1e-5f;
    /** llama3 scaling used by "freqs" and "llama3": factor, low, high, original context. */
    static final ModelConfig.RopeScaling LLAMA3 = new ModelConfig.RopeScaling("llama3", 8f, 1f, 4f, 16);

    static TinyModel llama(GgmlType type) {
        return new TinyModel("llama", type, HEAD_DIM, "none", false, false);
    }

    @Override
    public String toString() {
        return architecture + "/" + matrixType + "/rope" + ropeDim + "/" + ropeScaling + (biases ? "/bias" : "")
                + (tiedOutput ? "/tied" : "");
    }

    /** The per-pair rope frequency divisors this model uses, or null. */
    float[] freqFactors() {
        if (ropeScaling.equals("none")) {
            return null;
        }
        float[] f = new float[ropeDim / 2];
        for (int i = 0; i < f.length; i++) {
            double freq = Math.pow(ROPE_BASE, -2.0 * i / ropeDim);
            f[i] = (float) (freq / Rope.llama3(freq, LLAMA3));
        }
        return f;
    }

    void write(Path out, long seed) {
        GgufWriter w = new GgufWriter();
        String a = architecture + ".";
        w.putString("general.architecture", architecture);
        w.putU32(a + "context_length", CONTEXT);
        w.putU32(a + "embedding_length", DIM);
        w.putU32(a + "block_count", LAYERS);
        w.putU32(a + "feed_forward_length", FFN);
        w.putU32(a + "attention.head_count", HEADS);
        w.putU32(a + "attention.head_count_kv", KV_HEADS);
        w.putU32(a + "rope.dimension_count", ropeDim);
        w.putF32(a + "rope.freq_base", ROPE_BASE);
        w.putF32(a + "attention.layer_norm_rms_epsilon", EPS);
        if (ropeScaling.equals("llama3")) {
            w.putString(a + "rope.scaling.type", "llama3");
            w.putF32(a + "rope.scaling.factor", LLAMA3.factor());
            w.putF32(a + "rope.scaling.low_freq_factor", LLAMA3.lowFreqFactor());
            w.putF32(a + "rope.scaling.high_freq_factor", LLAMA3.highFreqFactor());
            w.putU32(a + "rope.scaling.original_context_length", LLAMA3.originalContextLength());
        }
        if (ropeScaling.equals("freqs")) {
            w.addTensor("rope_freqs.weight", GgmlType.F32, ropeDim / 2);
        }
        int kv = KV_HEADS * HEAD_DIM;
        w.addTensor("token_embd.weight", matrixType, DIM, VOCAB);
        for (int l = 0; l < LAYERS; l++) {
            String p = "blk." + l + ".";
            w.addTensor(p + "attn_norm.weight", GgmlType.F32, DIM);
            w.addTensor(p + "attn_q.weight", matrixType, DIM, DIM);
            w.addTensor(p + "attn_k.weight", matrixType, DIM, kv);
            w.addTensor(p + "attn_v.weight", matrixType, DIM, kv);
            if (biases) {
                w.addTensor(p + "attn_q.bias", GgmlType.F32, DIM);
                w.addTensor(p + "attn_k.bias", GgmlType.F32, kv);
                w.addTensor(p + "attn_v.bias", GgmlType.F32, kv);
            }
            w.addTensor(p + "attn_output.weight", matrixType, DIM, DIM);
            w.addTensor(p + "ffn_norm.weight", GgmlType.F32, DIM);
            w.addTensor(p + "ffn_gate.weight", matrixType, DIM, FFN);
            w.addTensor(p + "ffn_up.weight", matrixType, DIM, FFN);
            w.addTensor(p + "ffn_down.weight", matrixType, FFN, DIM);
        }
        w.addTensor("output_norm.weight", GgmlType.F32, DIM);
        if (!tiedOutput) {
            w.addTensor("output.weight", matrixType, DIM, VOCAB);
        }
        w.write(out, (tensor, sink) -> {
            int n = (int) tensor.elementCount();
            float[] values = new float[n];
            SplittableRandom rnd = new SplittableRandom(seed ^ tensor.name().hashCode());
            if (tensor.name().equals("rope_freqs.weight")) {
                values = freqFactors();
            } else if (tensor.name().endsWith("norm.weight")) {
                for (int i = 0; i < n; i++) {
                    values[i] = (float) (0.8 + 0.4 * rnd.nextDouble());
                }
            } else {
                double std = tensor.name().endsWith("bias") ? 0.5 : 0.25;
                for (int i = 0; i < n; i++) {
                    values[i] = (float) (std * rnd.nextGaussian());
                }
            }
            byte[] bytes = new byte[(int) tensor.sizeBytes()];
            if (Quantizer.supports(tensor.type())) {
                Quantizer.quantize(tensor.type(), values, 0, n, bytes, 0);
            }
            sink.write(bytes, 0, bytes.length);
        });
    }
}
