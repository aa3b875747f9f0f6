package dev.tandem.engine.model;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.ops.AttentionKernels;
import dev.tandem.engine.ops.KernelPool;
import java.lang.foreign.MemorySegment;

/**
 * Causal grouped-query attention over the paged KV cache for every token of a step, split
 * across the kernel pool's workers.
 *
 * <pre>
 * Design
 *   Token t of sequence s sits at position p; it attends to positions 0..p of s (causal: a
 *   prompt chunk's later tokens are invisible to its earlier ones, and earlier steps' tokens
 *   are read from the cache like any other). Query head h reads key/value head h / group.
 *   Work item = (sequence, kv head g, tile of up to TILE_TOKENS consecutive tokens). Its query
 *   rows are every (token, head of group g) pair: M = tokens * group rows, so a K/V block is
 *   read from the pool and converted once for all of them (all GQA heads, all tile tokens).
 *   Position j lives in block table[j / blockSize], slot j % blockSize; the item walks the
 *   table block by block up to its last token's position:
 *     K row of (block b, layer l, slot) = b * blockBytes + keyOffset(l) + slot * rowBytes,
 *     head g's elements start g * headDim elements into the row (KvLayout).
 *     kT/v = the block's K (transposed) and V as floats; s = q kT (AttentionKernels.scores);
 *     each row folds in its causally visible slots with the online softmax (FlashAttention),
 *     so no row ever needs a buffer the size of the context.
 *   out[t][h*hd ..] = o[m] / sum[m].
 * Invariants
 *   The caller has written this step's K and V rows before run() and validated the block
 *   tables (every id used is inside the pool). Items of one call write disjoint outputs.
 * Concurrency
 *   Items are the pool's chunks, claimed dynamically by its workers (long and short causal
 *   tiles balance themselves); each worker has its own scratch. The KV cache is only read here.
 * References
 *   Paged KV blocks as in vLLM (Kwon et al. 2023, "Efficient Memory Management for Large
 *   Language Model Serving with PagedAttention"); GQA as in Ainslie et al. 2023.
 * </pre>
 *
 * <p>Thread ownership: owned by the engine's step thread; run by the kernel pool.
 */
final class PagedAttention implements KernelPool.Task {
    /** Query tokens per work item: M = TILE_TOKENS * group query rows share each K/V block load. */
    static final int TILE_TOKENS = 16;

    private final int headDim;
    private final int group;
    private final int kvHeadCount;
    private final int queryDim;
    private final float scale;
    private final Scratch[] scratch; // [worker]
    private final int[] itemFirst;   // [item] flat index of the tile's first token
    private final int[] itemEnd;     // [item] flat index after its last token
    private final int[] itemHead;    // [item] kv head

    // The current call (set by attend() before pool.run).
    private ForwardBatch batch;
    private MemorySegment memory;
    private long blockBytes;
    private long rowBytes;
    private long keyOffset;
    private long valueOffset;
    private int blockSize;
    private int jPad;
    private boolean f16;
    private float[] q;
    private float[] out;
    private int[] positions;
    private int[] sequenceOfToken;
    private int itemCount;

    /** One worker's tiles (floats). */
    private static final class Scratch {
        final float[] qTile; // [M][hd] scaled query rows
        final float[] o;     // [M][hd] running outputs
        final float[] max;   // [M]
        final float[] sum;   // [M]
        final int[] rowPos;  // [M] position of each row's token
        final float[] rowTmp; // [hd]
        float[] kT = new float[0]; // [hd][jPad]
        float[] v = new float[0];  // [jPad][hd]
        float[] s = new float[0];  // [M][jPad]

        Scratch(int rows, int hd) {
            qTile = new float[rows * hd];
            o = new float[rows * hd];
            max = new float[rows];
            sum = new float[rows];
            rowPos = new int[rows];
            rowTmp = new float[hd];
        }

        void fit(int rows, int hd, int jPad) {
            if (kT.length != hd * jPad) {
                kT = new float[hd * jPad];
                v = new float[jPad * hd];
                s = new float[rows * jPad];
            }
        }
    }

    PagedAttention(ModelConfig c, int workers, int maxTokens) {
        this.headDim = c.headDim();
        this.group = c.headCount() / c.kvHeadCount();
        this.kvHeadCount = c.kvHeadCount();
        this.queryDim = c.queryDim();
        this.scale = (float) (1.0 / Math.sqrt(c.headDim()));
        this.scratch = new Scratch[workers];
        for (int w = 0; w < workers; w++) {
            scratch[w] = new Scratch(TILE_TOKENS * group, headDim);
        }
        // Worst case: every token is its own sequence, so its own tile.
        int maxItems = maxTokens * kvHeadCount;
        this.itemFirst = new int[maxItems];
        this.itemEnd = new int[maxItems];
        this.itemHead = new int[maxItems];
    }

    /**
     * out[t][h*hd ..] = attention of q[t][h*hd ..] over its sequence's cached positions 0..p.
     *
     * @param q               [tokens][heads*headDim]
     * @param out             [tokens][heads*headDim]
     * @param positions       [tokens] position of each token
     * @param sequenceOfToken [tokens] batch index of each token's sequence
     * @param maxPosition     the largest of positions[0 .. tokens)
     */
    void attend(KernelPool pool, ForwardBatch batch, KvPool kv, int layer, float[] q, float[] out, int[] positions,
                int[] sequenceOfToken, int tokens, int maxPosition) {
        KvLayout layout = kv.layout();
        this.batch = batch;
        this.memory = kv.memory();
        this.blockBytes = kv.blockBytes();
        this.rowBytes = layout.rowBytes();
        this.keyOffset = layout.keyOffset(layer);
        this.valueOffset = layout.valueOffset(layer);
        this.blockSize = layout.blockSizeTokens();
        this.jPad = AttentionKernels.paddedSlots(blockSize);
        this.f16 = layout.dtype() == KvDtype.F16;
        this.q = q;
        this.out = out;
        this.positions = positions;
        this.sequenceOfToken = sequenceOfToken;
        int n = 0;
        for (int s = 0; s < batch.sequenceCount(); s++) {
            int first = batch.tokenStart(s);
            int end = first + batch.tokenCount(s);
            for (int t0 = first; t0 < end; t0 += TILE_TOKENS) {
                for (int g = 0; g < kvHeadCount; g++) {
                    itemFirst[n] = t0;
                    itemEnd[n] = Math.min(end, t0 + TILE_TOKENS);
                    itemHead[n] = g;
                    n++;
                }
            }
        }
        this.itemCount = n;
        long work = (long) tokens * group * kvHeadCount * (maxPosition + 1) * headDim;
        pool.run(this, itemCount, work >= (1 << 16));
        this.batch = null;
        this.memory = null;
    }

    /** One item (one chunk of the pool's job). */
    @Override
    public void run(int worker, int item) {
        Scratch sc = scratch[worker];
        sc.fit(TILE_TOKENS * group, headDim, jPad);
        attendTile(itemFirst[item], itemEnd[item], itemHead[item], sc);
    }

    /** Tokens first..end (one sequence) against kv head g. */
    private void attendTile(int first, int end, int g, Scratch sc) {
        int hd = headDim;
        int rows = (end - first) * group;
        for (int t = first, m = 0; t < end; t++) {
            for (int i = 0; i < group; i++, m++) {
                int src = t * queryDim + (g * group + i) * hd;
                for (int d = 0; d < hd; d++) {
                    sc.qTile[m * hd + d] = q[src + d] * scale;
                }
                sc.rowPos[m] = positions[t];
            }
        }
        java.util.Arrays.fill(sc.o, 0, rows * hd, 0f);
        java.util.Arrays.fill(sc.max, 0, rows, Float.NEGATIVE_INFINITY);
        java.util.Arrays.fill(sc.sum, 0, rows, 0f);
        int[] table = batch.blockTable(sequenceOfToken[first]);
        int lastPos = positions[end - 1];
        long headOff = (long) g * hd * (f16 ? 2 : 4);
        for (int b = 0, blockStart = 0; blockStart <= lastPos; b++, blockStart += blockSize) {
            int slots = Math.min(blockSize, lastPos + 1 - blockStart);
            long base = table[b] * blockBytes + headOff;
            AttentionKernels.loadBlock(memory, base + keyOffset, base + valueOffset, rowBytes, slots, hd, f16,
                    sc.kT, sc.v, jPad, sc.rowTmp);
            AttentionKernels.scores(sc.qTile, rows, hd, sc.kT, jPad, sc.s);
            for (int m = 0; m < rows; m++) {
                int valid = Math.min(slots, sc.rowPos[m] + 1 - blockStart);
                if (valid > 0) {
                    AttentionKernels.update(sc.s, m, valid, jPad, sc.v, hd, sc.o, sc.max, sc.sum);
                }
            }
        }
        for (int t = first, m = 0; t < end; t++) {
            for (int i = 0; i < group; i++, m++) {
                int dst = t * queryDim + (g * group + i) * hd;
                float inv = 1f / sc.sum[m];
                for (int d = 0; d < hd; d++) {
                    out[dst + d] = sc.o[m * hd + d] * inv;
                }
            }
        }
    }
}
