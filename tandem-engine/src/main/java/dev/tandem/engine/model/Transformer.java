package dev.tandem.engine.model;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.core.RequestException;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.ops.FloatOps;
import dev.tandem.engine.ops.KernelPool;
import dev.tandem.engine.ops.KernelTuner;
import dev.tandem.engine.ops.MatMul;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;

/**
 * The Llama-family forward pass (Llama 2/3, Mistral-style, TinyLlama, Qwen2) over a batch of
 * sequences and a paged KV cache.
 *
 * <pre>
 * Design
 *   One step processes every token of a {@link ForwardBatch} together, T = totalTokens():
 *     x[T][dim]  = token_embd rows
 *     per layer:  xb = RMSNorm(x) * attn_norm
 *                 q[T][heads*hd], k[T][kvHeads*hd], v = xb Wq^T (+bq), xb Wk^T (+bk), xb Wv^T (+bv)
 *                 RoPE(q, k) at each token's position; K, V rows -&gt; KV cache through block tables
 *                 att[T][heads*hd] = PagedAttention(q, cache); x += att Wo^T
 *                 xb = RMSNorm(x) * ffn_norm; x += (silu(xb Wgate^T) * (xb Wup^T)) Wdown^T
 *     logits: for each sequence that wants them, its last token: RMSNorm(x) * output_norm, Wout
 *   Every product is one MatMul call over all T tokens (all sequences of the step), so each
 *   weight is read once per step: prompt chunks and batched decode tokens share the pass.
 *   RoPE angles are computed once per step per token and reused by every layer.
 * Invariants
 *   Scratch arrays are sized for maxBatchTokens at construction; a step never allocates once
 *   the logits scratch has grown to the largest number of sequences wanting logits.
 *   A step writes K/V only at its own new positions, before attention reads them.
 * Concurrency
 *   Owned by one thread (the scheduler's step thread). Products and attention run on the
 *   KernelPool; everything else runs on the owning thread.
 * References
 *   llama.cpp's llm_build_llama / llm_build_qwen2 graphs (same operation order and RMSNorm
 *   epsilon placement), llama2.c and llama3.java for the single-token structure.
 * </pre>
 */
public final class Transformer implements ModelRunner {
    private final ModelConfig config;
    private final ModelWeights weights;
    private final GgufFile ownedFile;
    private final KernelPool pool;
    private final MatMul matmul;
    private final List<KernelTuner.Choice> kernelChoices;
    private final PagedAttention attention;
    private final Rope rope;
    private final int maxTokens;

    // Scratch, [maxTokens][width] row-major.
    private final float[] x;      // [T][dim] residual stream
    private final float[] xb;     // [T][dim] normed input of a sub-layer
    private final float[] tmp;    // [T][dim] sub-layer output before the residual add
    private final float[] q;      // [T][heads*hd]
    private final float[] k;      // [T][kvHeads*hd]
    private final float[] v;      // [T][kvHeads*hd]
    private final float[] att;    // [T][heads*hd]
    private final float[] hb;     // [T][ffn] gate, then silu(gate) * up
    private final float[] hb2;    // [T][ffn] up
    private final float[] angles; // [T][ropeDim/2][cos, sin]
    private final int[] positions;       // [T]
    private final int[] sequenceOfToken; // [T]
    private float[] lastRows = new float[0];   // [sequences wanting logits][dim], grown on demand
    private float[] logitRows = new float[0];  // [sequences wanting logits][vocab], grown on demand
    private int[] wanting = new int[0];        // batch indices of the sequences wanting logits

    /**
     * A runner over an open GGUF file that stays owned by the caller.
     *
     * @param maxBatchTokens most tokens per step (sizes the scratch)
     * @param threads        kernel threads (the caller's thread included)
     */
    public Transformer(GgufFile gguf, int maxBatchTokens, int threads) {
        this(gguf, false, maxBatchTokens, threads);
    }

    private Transformer(GgufFile gguf, boolean owned, int maxBatchTokens, int threads) {
        if (maxBatchTokens <= 0) {
            throw new IllegalArgumentException("maxBatchTokens must be positive, got " + maxBatchTokens);
        }
        this.config = ModelConfig.from(gguf);
        this.weights = new ModelWeights(gguf, config);
        this.ownedFile = owned ? gguf : null;
        this.pool = new KernelPool(threads);
        this.matmul = new MatMul(pool);
        this.kernelChoices = new KernelTuner(matmul).tune(weights.matrices());
        this.attention = new PagedAttention(config, threads, maxBatchTokens);
        this.rope = new Rope(config, weights.ropeFreqFactors);
        this.maxTokens = maxBatchTokens;
        int t = maxBatchTokens;
        x = new float[t * config.embeddingDim()];
        xb = new float[t * config.embeddingDim()];
        tmp = new float[t * config.embeddingDim()];
        q = new float[t * config.queryDim()];
        att = new float[t * config.queryDim()];
        k = new float[t * config.kvDim()];
        v = new float[t * config.kvDim()];
        hb = new float[t * config.ffnDim()];
        hb2 = new float[t * config.ffnDim()];
        angles = new float[t * config.ropeDim()];
        positions = new int[t];
        sequenceOfToken = new int[t];
    }

    /** Opens {@code path} and owns it: {@link #close()} unmaps the file. */
    public static Transformer open(Path path, int maxBatchTokens, int threads) {
        GgufFile gguf = GgufFile.open(path);
        try {
            return new Transformer(gguf, true, maxBatchTokens, threads);
        } catch (RuntimeException e) {
            gguf.close();
            throw e;
        }
    }

    public ModelConfig config() {
        return config;
    }

    public ModelWeights weights() {
        return weights;
    }

    /** The kernels chosen at load for each weight type (see {@link KernelTuner}). */
    public List<KernelTuner.Choice> kernelChoices() {
        return kernelChoices;
    }

    /** The KV layout this model needs. */
    public KvLayout kvLayout(int blockSizeTokens, KvDtype dtype) {
        return config.kvLayout(blockSizeTokens, dtype);
    }

    public int maxBatchTokens() {
        return maxTokens;
    }

    public int threads() {
        return pool.threadCount();
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public int contextLength() {
        return config.contextLength();
    }

    @Override
    public void forward(ForwardBatch batch, KvPool kv, float[] logits) {
        int tokens = batch.totalTokens();
        if (tokens == 0) {
            return;
        }
        int maxPosition = prepare(batch, kv, logits);
        ModelConfig c = config;
        int dim = c.embeddingDim();
        int ropeDim = c.ropeDim();
        for (int t = 0; t < tokens; t++) {
            weights.tokenEmbedding.dequantize(batch.token(t), 0, dim, x, t * dim);
            rope.angles(positions[t], angles, t * ropeDim);
        }
        for (int l = 0; l < c.layerCount(); l++) {
            layer(l, weights.layers[l], batch, kv, tokens, maxPosition);
        }
        computeLogits(batch, logits);
    }

    /** One transformer block over all tokens of the step (see the design notes). */
    private void layer(int l, ModelWeights.Layer w, ForwardBatch batch, KvPool kv, int tokens, int maxPosition) {
        ModelConfig c = config;
        int dim = c.embeddingDim();
        int qDim = c.queryDim();
        int kvDim = c.kvDim();
        int ropeDim = c.ropeDim();
        for (int t = 0; t < tokens; t++) {
            FloatOps.rmsNorm(x, t * dim, w.attnNorm, xb, t * dim, dim, c.rmsEps());
        }
        matmul.multiply(w.wq, xb, 0, tokens, q, 0);
        matmul.multiply(w.wk, xb, 0, tokens, k, 0);
        matmul.multiply(w.wv, xb, 0, tokens, v, 0);
        for (int t = 0; t < tokens; t++) {
            if (w.bq != null) {
                FloatOps.add(q, t * qDim, w.bq, 0, qDim);
            }
            if (w.bk != null) {
                FloatOps.add(k, t * kvDim, w.bk, 0, kvDim);
            }
            if (w.bv != null) {
                FloatOps.add(v, t * kvDim, w.bv, 0, kvDim);
            }
            rope.rotate(q, t * qDim, c.headCount(), angles, t * ropeDim);
            rope.rotate(k, t * kvDim, c.kvHeadCount(), angles, t * ropeDim);
        }
        storeKv(l, batch, kv, tokens);
        attention.attend(pool, batch, kv, l, q, att, positions, sequenceOfToken, tokens, maxPosition);
        matmul.multiply(w.wo, att, 0, tokens, tmp, 0);
        FloatOps.add(x, 0, tmp, 0, tokens * dim);
        for (int t = 0; t < tokens; t++) {
            FloatOps.rmsNorm(x, t * dim, w.ffnNorm, xb, t * dim, dim, c.rmsEps());
        }
        matmul.multiply(w.gate, xb, 0, tokens, hb, 0);
        matmul.multiply(w.up, xb, 0, tokens, hb2, 0);
        FloatOps.siluMul(hb, hb2, 0, tokens * c.ffnDim());
        matmul.multiply(w.down, hb, 0, tokens, tmp, 0);
        FloatOps.add(x, 0, tmp, 0, tokens * dim);
    }

    /** Writes this step's K and V rows (all kv heads of a token are one row) into the cache. */
    private void storeKv(int layer, ForwardBatch batch, KvPool kv, int tokens) {
        KvLayout layout = kv.layout();
        MemorySegment mem = kv.memory();
        boolean f16 = layout.dtype() == KvDtype.F16;
        int kvDim = config.kvDim();
        int blockSize = layout.blockSizeTokens();
        long blockBytes = kv.blockBytes();
        long keyOffset = layout.keyOffset(layer);
        long valueOffset = layout.valueOffset(layer);
        for (int t = 0; t < tokens; t++) {
            int p = positions[t];
            int[] table = batch.blockTable(sequenceOfToken[t]);
            long row = table[p / blockSize] * blockBytes + (p % blockSize) * layout.rowBytes();
            FloatOps.storeRow(k, t * kvDim, mem, row + keyOffset, kvDim, f16);
            FloatOps.storeRow(v, t * kvDim, mem, row + valueOffset, kvDim, f16);
        }
    }

    /** Final norm and output projection for the last token of every sequence that wants logits. */
    private void computeLogits(ForwardBatch batch, float[] logits) {
        int dim = config.embeddingDim();
        int vocab = config.vocabSize();
        int count = 0;
        for (int s = 0; s < batch.sequenceCount(); s++) {
            if (batch.wantsLogits(s)) {
                count++;
            }
        }
        if (count == 0) {
            return;
        }
        if (wanting.length < count) {
            wanting = new int[Math.max(count, batch.maxSequences())];
            lastRows = new float[wanting.length * dim];
            logitRows = new float[wanting.length * vocab];
        }
        int n = 0;
        for (int s = 0; s < batch.sequenceCount(); s++) {
            if (batch.wantsLogits(s)) {
                int last = batch.tokenStart(s) + batch.tokenCount(s) - 1;
                FloatOps.rmsNorm(x, last * dim, weights.outputNorm, lastRows, n * dim, dim, config.rmsEps());
                wanting[n++] = s;
            }
        }
        matmul.multiply(weights.output, lastRows, 0, n, logitRows, 0);
        for (int i = 0; i < n; i++) {
            System.arraycopy(logitRows, i * vocab, logits, wanting[i] * vocab, vocab);
        }
    }

    /**
     * Checks the batch against the model, the pool and the context, and fills positions and
     * sequenceOfToken. Returns the largest position of the step.
     */
    private int prepare(ForwardBatch batch, KvPool kv, float[] logits) {
        int tokens = batch.totalTokens();
        if (tokens > maxTokens) {
            throw new IllegalArgumentException("step of " + tokens + " tokens exceeds maxBatchTokens " + maxTokens);
        }
        KvLayout layout = kv.layout();
        if (layout.layerCount() != config.layerCount() || layout.kvHeadCount() != config.kvHeadCount()
                || layout.headDim() != config.headDim()) {
            throw new IllegalArgumentException("KV pool layout (" + layout.describe() + ") does not fit the model ("
                    + config.layerCount() + " layers, " + config.kvHeadCount() + " kv heads, head dim "
                    + config.headDim() + ")");
        }
        if (logits.length < (long) batch.sequenceCount() * config.vocabSize()) {
            throw new IllegalArgumentException("logits array of " + logits.length + " floats is too small for "
                    + batch.sequenceCount() + " sequences x vocab " + config.vocabSize());
        }
        int maxPosition = 0;
        int blockSize = layout.blockSizeTokens();
        for (int s = 0; s < batch.sequenceCount(); s++) {
            int end = batch.endPosition(s);
            if (batch.startPosition(s) < 0) {
                throw new IllegalArgumentException("sequence " + s + " starts at negative position "
                        + batch.startPosition(s));
            }
            if (end > config.contextLength()) {
                throw new RequestException(RequestException.Kind.INVALID, "context overflow: sequence " + s
                        + " would reach " + end + " positions but the model's context length is "
                        + config.contextLength());
            }
            checkBlockTable(batch.blockTable(s), s, (end + blockSize - 1) / blockSize, kv.blockCount());
            int first = batch.tokenStart(s);
            for (int i = 0; i < batch.tokenCount(s); i++) {
                int token = batch.token(first + i);
                if (token < 0 || token >= config.vocabSize()) {
                    throw new RequestException(RequestException.Kind.INVALID, "token id " + token
                            + " is outside the vocabulary (0.." + (config.vocabSize() - 1) + ")");
                }
                positions[first + i] = batch.startPosition(s) + i;
                sequenceOfToken[first + i] = s;
            }
            maxPosition = Math.max(maxPosition, end - 1);
        }
        return maxPosition;
    }

    private static void checkBlockTable(int[] table, int s, int blocksNeeded, int poolBlocks) {
        if (table == null || table.length < blocksNeeded) {
            throw new IllegalArgumentException("sequence " + s + " needs " + blocksNeeded + " blocks but its block table has "
                    + (table == null ? 0 : table.length));
        }
        for (int b = 0; b < blocksNeeded; b++) {
            if (table[b] < 0 || table[b] >= poolBlocks) {
                throw new IllegalArgumentException("sequence " + s + ": block id " + table[b] + " at table index " + b
                        + " is outside the pool of " + poolBlocks + " blocks");
            }
        }
    }

    @Override
    public void close() {
        pool.close();
        if (ownedFile != null) {
            ownedFile.close();
        }
    }
}
