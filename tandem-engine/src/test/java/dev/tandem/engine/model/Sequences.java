package dev.tandem.engine.model;

import dev.tandem.core.KvDtype;
import dev.tandem.engine.kvcache.KvPool;
import java.util.Arrays;

/**
 * Test driver: a KV pool and per-sequence block tables for a {@link Transformer}, with helpers
 * to prefill in chunks and decode greedily.
 */
final class Sequences implements AutoCloseable {
    final Transformer model;
    final KvPool kv;
    final ForwardBatch batch;
    final float[] logits;
    final int blockSize;

    Sequences(Transformer model, int blockSize, int blocks, KvDtype dtype, int maxSequences) {
        this.model = model;
        this.blockSize = blockSize;
        this.kv = KvPool.allocate(model.kvLayout(blockSize, dtype), blocks);
        this.batch = new ForwardBatch(maxSequences, model.maxBatchTokens());
        this.logits = new float[maxSequences * model.vocabSize()];
    }

    /** Block ids 0..n in order. */
    static int[] contiguous(int first, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = first + i;
        }
        return t;
    }

    /** Runs ids[0..n) of one sequence in chunks of the given sizes (cycled); returns the last logits. */
    float[] prefill(int[] table, int[] ids, int... chunkSizes) {
        int pos = 0;
        int c = 0;
        while (pos < ids.length) {
            int n = Math.min(chunkSizes[c++ % chunkSizes.length], ids.length - pos);
            batch.clear();
            batch.add(ids, pos, n, pos, table, true);
            model.forward(batch, kv, logits);
            pos += n;
        }
        return Arrays.copyOf(logits, model.vocabSize());
    }

    /** Greedy continuation of a prompt whose last logits are {@code last}: n tokens. */
    int[] greedy(int[] table, int promptLength, float[] last, int n) {
        int[] out = new int[n];
        int[] one = new int[1];
        float[] current = last;
        for (int i = 0; i < n; i++) {
            out[i] = argmax(current, 0, model.vocabSize());
            if (i == n - 1) {
                break;
            }
            one[0] = out[i];
            batch.clear();
            batch.add(one, 0, 1, promptLength + i, table, true);
            model.forward(batch, kv, logits);
            current = Arrays.copyOf(logits, model.vocabSize());
        }
        return out;
    }

    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (v[off + i] > v[off + best]) {
                best = i;
            }
        }
        return best;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }

    @Override
    public void close() {
        kv.close();
    }
}
