package dev.tandem.engine.model;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.ops.FloatOps;
import dev.tandem.engine.ops.KernelPool;
import java.lang.foreign.MemorySegment;

/**
 * Causal grouped-query attention over the paged KV cache, for every (token, query head) of a
 * step, split across the kernel pool's workers.
 *
 * <pre>
 * Design
 *   Token t of sequence s sits at position p; it attends to positions 0..p of s (causal: a
 *   prompt chunk's later tokens are invisible to its earlier ones, and earlier steps' tokens
 *   are read from the cache like any other). Query head h reads key/value head h / group.
 *   Position j lives in block table[j / blockSize], slot j % blockSize; the loops walk the
 *   table block by block, so no division runs per position.
 *   K row of (block b, layer l, slot) = b * blockBytes + keyOffset(l) + slot * rowBytes, and
 *   the head's elements start headIndex * headDim elements into the row (KvLayout).
 *   scores[j] = q . K[j] / sqrt(headDim); softmax; out = sum_j scores[j] * V[j].
 * Invariants
 *   The caller has written this step's K and V rows before run() and validated the block
 *   tables (every id used is inside the pool).
 * Concurrency
 *   Workers take disjoint (token, head) items and write disjoint slices of out; each has its
 *   own scores scratch. The KV cache is only read here.
 * References
 *   Paged KV blocks as in vLLM (Kwon et al. 2023, "Efficient Memory Management for Large
 *   Language Model Serving with PagedAttention"); GQA as in Ainslie et al. 2023.
 * </pre>
 *
 * <p>Thread ownership: owned by the engine's step thread; run by the kernel pool.
 */
final class PagedAttention implements KernelPool.Task {
    private final int headCount;
    private final int headDim;
    private final int group;
    private final int queryDim;
    private final float scale;
    private final float[][] scores; // [worker][positions], grown on demand by its worker

    // The current call (set by attend() before pool.run).
    private ForwardBatch batch;
    private MemorySegment memory;
    private long blockBytes;
    private long rowBytes;
    private long keyOffset;
    private long valueOffset;
    private int blockSize;
    private boolean f16;
    private float[] q;
    private float[] out;
    private int[] positions;
    private int[] sequenceOfToken;
    private int tokens;

    PagedAttention(ModelConfig c, int workers) {
        this.headCount = c.headCount();
        this.headDim = c.headDim();
        this.group = c.headCount() / c.kvHeadCount();
        this.queryDim = c.queryDim();
        this.scale = (float) (1.0 / Math.sqrt(c.headDim()));
        this.scores = new float[workers][];
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
        this.f16 = layout.dtype() == KvDtype.F16;
        this.q = q;
        this.out = out;
        this.positions = positions;
        this.sequenceOfToken = sequenceOfToken;
        this.tokens = tokens;
        long work = (long) tokens * headCount * (maxPosition + 1) * headDim;
        pool.run(this, work < (1 << 16) ? 1 : pool.threadCount());
        this.batch = null;
        this.memory = null;
    }

    @Override
    public void run(int worker, int workerCount) {
        int items = tokens * headCount;
        int i0 = KernelPool.split(items, worker, workerCount, 1);
        int i1 = KernelPool.split(items, worker + 1, workerCount, 1);
        for (int item = i0; item < i1; item++) {
            int t = item / headCount;
            int h = item - t * headCount;
            int n = positions[t] + 1;
            float[] sc = scores[worker];
            if (sc == null || sc.length < n) {
                sc = new float[Math.max(n, 256)];
                scores[worker] = sc;
            }
            attendOne(t, h, n, sc);
        }
    }

    /** One (token, head): n positions of the token's sequence. */
    private void attendOne(int t, int h, int n, float[] sc) {
        int[] table = batch.blockTable(sequenceOfToken[t]);
        MemorySegment mem = memory;
        int hd = headDim;
        long headOff = (long) (h / group) * hd * (f16 ? 2 : 4);
        int qOff = t * queryDim + h * hd;
        // scores[j] = q . K[j] * scale, walking the block table
        for (int j = 0, b = 0; j < n; b++) {
            long row = table[b] * blockBytes + keyOffset + headOff;
            for (int end = Math.min(n, j + blockSize); j < end; j++, row += rowBytes) {
                sc[j] = FloatOps.dotRow(q, qOff, mem, row, hd, f16) * scale;
            }
        }
        FloatOps.softmax(sc, 0, n);
        // out = sum_j scores[j] * V[j]
        int oOff = t * queryDim + h * hd;
        java.util.Arrays.fill(out, oOff, oOff + hd, 0f);
        for (int j = 0, b = 0; j < n; b++) {
            long row = table[b] * blockBytes + valueOffset + headOff;
            for (int end = Math.min(n, j + blockSize); j < end; j++, row += rowBytes) {
                FloatOps.axpyRow(out, oOff, sc[j], mem, row, hd, f16);
            }
        }
    }
}
