package dev.tandem.engine.model;

import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.gguf.GgufTensor;
import dev.tandem.engine.ops.WeightMatrix;

/**
 * The tensors of a Llama-family model as kernel views over the mapped GGUF file (no copies;
 * only the small norm and bias vectors are read into float arrays). GGUF names and shapes
 * (ggml order {@code [cols, rows]}):
 * <pre>
 * token_embd.weight   [dim, vocab]       output.weight [dim, vocab] (absent: tied to token_embd)
 * output_norm.weight  [dim]              rope_freqs.weight [ropeDim/2] (optional, llama3 scaling)
 * blk.N.attn_norm     [dim]              blk.N.ffn_norm [dim]
 * blk.N.attn_q        [dim, heads*hd]    blk.N.attn_q.bias [heads*hd] (qwen2)
 * blk.N.attn_k/v      [dim, kvHeads*hd]  blk.N.attn_k/v.bias [kvHeads*hd] (qwen2)
 * blk.N.attn_output   [heads*hd, dim]
 * blk.N.ffn_gate/up   [dim, ffn]         blk.N.ffn_down [ffn, dim]
 * </pre>
 *
 * <p>Thread ownership: immutable; valid while the GGUF file is open.
 */
public final class ModelWeights {
    /** One transformer block. Matrices are [rows = outputs][cols = inputs]. */
    public static final class Layer {
        final float[] attnNorm;  // [dim]
        final WeightMatrix wq;   // [heads*hd][dim]
        final WeightMatrix wk;   // [kvHeads*hd][dim]
        final WeightMatrix wv;   // [kvHeads*hd][dim]
        final float[] bq;        // [heads*hd] or null
        final float[] bk;        // [kvHeads*hd] or null
        final float[] bv;        // [kvHeads*hd] or null
        final WeightMatrix wo;   // [dim][heads*hd]
        final float[] ffnNorm;   // [dim]
        final WeightMatrix gate; // [ffn][dim]
        final WeightMatrix up;   // [ffn][dim]
        final WeightMatrix down; // [dim][ffn]

        Layer(GgufFile gguf, ModelConfig c, int i) {
            String p = "blk." + i + ".";
            int dim = c.embeddingDim();
            attnNorm = vector(gguf, p + "attn_norm.weight", dim);
            wq = matrix(gguf, p + "attn_q.weight", c.queryDim(), dim);
            wk = matrix(gguf, p + "attn_k.weight", c.kvDim(), dim);
            wv = matrix(gguf, p + "attn_v.weight", c.kvDim(), dim);
            bq = optionalVector(gguf, p + "attn_q.bias", c.queryDim());
            bk = optionalVector(gguf, p + "attn_k.bias", c.kvDim());
            bv = optionalVector(gguf, p + "attn_v.bias", c.kvDim());
            wo = matrix(gguf, p + "attn_output.weight", dim, c.queryDim());
            ffnNorm = vector(gguf, p + "ffn_norm.weight", dim);
            gate = matrix(gguf, p + "ffn_gate.weight", c.ffnDim(), dim);
            up = matrix(gguf, p + "ffn_up.weight", c.ffnDim(), dim);
            down = matrix(gguf, p + "ffn_down.weight", dim, c.ffnDim());
        }
    }

    final WeightMatrix tokenEmbedding; // [vocab][dim]
    final Layer[] layers;
    final float[] outputNorm;          // [dim]
    final WeightMatrix output;         // [vocab][dim]
    final float[] ropeFreqFactors;     // [ropeDim/2] divisors of the RoPE frequencies, or null
    final boolean tiedOutput;

    public ModelWeights(GgufFile gguf, ModelConfig c) {
        int dim = c.embeddingDim();
        tokenEmbedding = matrix(gguf, "token_embd.weight", c.vocabSize(), dim);
        layers = new Layer[c.layerCount()];
        for (int i = 0; i < layers.length; i++) {
            layers[i] = new Layer(gguf, c, i);
        }
        outputNorm = vector(gguf, "output_norm.weight", dim);
        tiedOutput = gguf.tensorOrNull("output.weight") == null;
        output = tiedOutput ? tokenEmbedding : matrix(gguf, "output.weight", c.vocabSize(), dim);
        ropeFreqFactors = optionalVector(gguf, "rope_freqs.weight", c.ropeDim() / 2);
    }

    /**
     * The matrices the forward pass multiplies with (every layer's, and the output projection;
     * the embedding table only when it is tied to the output).
     */
    public java.util.List<WeightMatrix> matrices() {
        java.util.List<WeightMatrix> all = new java.util.ArrayList<>();
        for (Layer l : layers) {
            all.addAll(java.util.List.of(l.wq, l.wk, l.wv, l.wo, l.gate, l.up, l.down));
        }
        all.add(output);
        return all;
    }

    /** Bytes of all weight matrices (what a decode step streams, plus one embedding row). */
    public long matrixBytes() {
        long sum = tokenEmbedding.byteSize() + (tiedOutput ? 0 : output.byteSize());
        for (Layer l : layers) {
            sum += l.wq.byteSize() + l.wk.byteSize() + l.wv.byteSize() + l.wo.byteSize() + l.gate.byteSize()
                    + l.up.byteSize() + l.down.byteSize();
        }
        return sum;
    }

    /** Bytes a single-token decode step reads: every matrix but the embedding table, plus one of its rows. */
    public long decodeBytesPerToken() {
        long perLayer = 0;
        for (Layer l : layers) {
            perLayer += l.wq.byteSize() + l.wk.byteSize() + l.wv.byteSize() + l.wo.byteSize() + l.gate.byteSize()
                    + l.up.byteSize() + l.down.byteSize();
        }
        return perLayer + output.byteSize() + tokenEmbedding.rowBytes();
    }

    /** The element type of the layers' matrices (of the first feed-forward matrix). */
    public GgmlType weightType() {
        return layers[0].up.type();
    }

    public boolean tiedOutput() {
        return tiedOutput;
    }

    private static WeightMatrix matrix(GgufFile gguf, String name, int rows, int cols) {
        GgufTensor t = gguf.tensor(name);
        if (t.dims().length != 2 || t.rows() != rows || t.cols() != cols) {
            throw new ModelFormatException(gguf.path() + ": tensor " + name + " has shape "
                    + java.util.Arrays.toString(t.dims()) + ", expected [" + cols + ", " + rows + "]");
        }
        return WeightMatrix.of(t);
    }

    private static float[] vector(GgufFile gguf, String name, int n) {
        GgufTensor t = gguf.tensor(name);
        if (t.elementCount() != n) {
            throw new ModelFormatException(gguf.path() + ": tensor " + name + " has " + t.elementCount()
                    + " elements, expected " + n);
        }
        WeightMatrix m = WeightMatrix.of(t.type(), t.data(), 1, n);
        float[] out = new float[n];
        m.dequantize(0, 0, n, out, 0);
        return out;
    }

    private static float[] optionalVector(GgufFile gguf, String name, int n) {
        return gguf.tensorOrNull(name) == null ? null : vector(gguf, name, n);
    }
}
