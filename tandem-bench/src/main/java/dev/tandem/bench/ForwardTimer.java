package dev.tandem.bench;

import dev.tandem.core.KvDtype;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.model.ForwardBatch;
import dev.tandem.engine.model.Transformer;
import java.util.SplittableRandom;

/**
 * Times the two basic workloads of one sequence on a {@link Transformer}, with the same
 * definitions as llama.cpp's {@code llama-bench} (and ../shared/tools/llamacpp's bench.c):
 * <ul>
 *   <li>prefill: N prompt tokens in one forward step from an empty cache; tokens/s = N / time;</li>
 *   <li>decode: G tokens, one forward step each, from an empty cache: the first input is BOS,
 *       each next input the argmax of the previous step's logits (argmax inside the timed loop);
 *       tokens/s = G / time.</li>
 * </ul>
 * Owns a KV pool large enough for one sequence of {@code contextTokens} positions, with a
 * contiguous block table. Allocates nothing per step.
 *
 * <p>Thread ownership: one thread.
 */
public final class ForwardTimer implements AutoCloseable {
    private final Transformer model;
    private final KvPool kv;
    private final int[] table;
    private final ForwardBatch batch;
    private final float[] logits;
    private final int[] one = new int[1];

    /**
     * @param contextTokens most positions a timed run reaches
     * @param dtype         KV-cache element type
     * @param blockSize     KV block size, tokens
     */
    public ForwardTimer(Transformer model, int contextTokens, KvDtype dtype, int blockSize) {
        this.model = model;
        int blocks = (contextTokens + blockSize - 1) / blockSize;
        this.kv = KvPool.allocate(model.kvLayout(blockSize, dtype), blocks);
        this.table = new int[blocks];
        for (int i = 0; i < blocks; i++) {
            table[i] = i;
        }
        this.batch = new ForwardBatch(1, model.maxBatchTokens());
        this.logits = new float[model.vocabSize()];
    }

    /** BOS followed by {@code n - 1} seeded pseudo-random ids in [0, vocab). */
    public static int[] promptTokens(int n, int vocabSize, int bos, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] ids = new int[n];
        ids[0] = bos;
        for (int i = 1; i < n; i++) {
            ids[i] = rnd.nextInt(vocabSize);
        }
        return ids;
    }

    /** Seconds to run {@code prompt} as one step from position 0. */
    public double prefillSeconds(int[] prompt) {
        long start = System.nanoTime();
        batch.clear();
        batch.add(prompt, 0, prompt.length, 0, table, true);
        model.forward(batch, kv, logits);
        return (System.nanoTime() - start) / 1e9;
    }

    /** Seconds to decode {@code count} tokens greedily from position 0, starting from {@code first}. */
    public double decodeSeconds(int first, int count) {
        long start = System.nanoTime();
        int token = first;
        for (int i = 0; i < count; i++) {
            one[0] = token;
            batch.clear();
            batch.add(one, 0, 1, i, table, true);
            model.forward(batch, kv, logits);
            token = argmax(logits, model.vocabSize());
        }
        return (System.nanoTime() - start) / 1e9;
    }

    static int argmax(float[] v, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    @Override
    public void close() {
        kv.close();
    }
}
