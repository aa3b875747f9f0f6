package dev.tandem.engine;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.model.ForwardBatch;
import dev.tandem.engine.model.ModelRunner;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A deterministic test model whose output depends on the whole token history <em>as stored in
 * the KV cache</em>: for each new position p it reads the running hash stored at position p-1
 * through the block table, mixes in the token, and writes {@code [token, p, hashLo, hashHi]} as
 * position p's K row. Logits are a pseudo-random function of the last hash. Any mistake in block
 * tables, prefix reuse, preemption or batching changes the tokens, and a missing or misplaced
 * row fails the step outright.
 */
public class HistoryModelRunner implements ModelRunner {
    public static final int HEAD_DIM = 4;
    private static final long SEED = 0x5EEDL;

    private final int vocabSize;
    private final int contextLength;
    public final List<Integer> stepSequenceCounts = new ArrayList<>();
    public final List<Integer> stepTokenCounts = new ArrayList<>();
    public volatile boolean closed;
    public volatile RuntimeException failNext;
    /** Sleep per step, so that a test can act while a long request is still running. */
    public volatile long stepDelayMs;

    public HistoryModelRunner(int vocabSize, int contextLength) {
        this.vocabSize = vocabSize;
        this.contextLength = contextLength;
    }

    /** The K/V layout this runner needs (F32, 1 layer, 1 head of 4 ints). */
    public static KvLayout layout(int blockSize) {
        return new KvLayout(blockSize, 1, 1, HEAD_DIM, KvDtype.F32);
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int contextLength() {
        return contextLength;
    }

    @Override
    public synchronized void forward(ForwardBatch batch, KvPool kv, float[] logits) {
        RuntimeException f = failNext;
        if (f != null) {
            failNext = null;
            throw f;
        }
        if (stepDelayMs > 0) {
            try {
                Thread.sleep(stepDelayMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        stepSequenceCounts.add(batch.sequenceCount());
        stepTokenCounts.add(batch.totalTokens());
        int bs = kv.layout().blockSizeTokens();
        for (int s = 0; s < batch.sequenceCount(); s++) {
            int[] table = batch.blockTable(s);
            int start = batch.startPosition(s);
            long h = start == 0 ? SEED : readHash(kv, table, bs, start - 1);
            for (int j = 0; j < batch.tokenCount(s); j++) {
                int p = start + j;
                int token = batch.token(batch.tokenStart(s) + j);
                h = mix(h, token, p);
                long off = kv.keyRowOffset(table[p / bs], 0, p % bs);
                kv.memory().set(ValueLayout.JAVA_INT_UNALIGNED, off, token);
                kv.memory().set(ValueLayout.JAVA_INT_UNALIGNED, off + 4, p);
                kv.memory().set(ValueLayout.JAVA_INT_UNALIGNED, off + 8, (int) h);
                kv.memory().set(ValueLayout.JAVA_INT_UNALIGNED, off + 12, (int) (h >>> 32));
            }
            if (batch.wantsLogits(s)) {
                fillLogits(h, logits, s * vocabSize, vocabSize);
            }
        }
    }

    private static long readHash(KvPool kv, int[] table, int bs, int p) {
        long off = kv.keyRowOffset(table[p / bs], 0, p % bs);
        int storedPosition = kv.memory().get(ValueLayout.JAVA_INT_UNALIGNED, off + 4);
        if (storedPosition != p) {
            throw new AssertionError("K/V of position " + p + " missing: block " + table[p / bs] + " slot " + (p % bs)
                    + " holds position " + storedPosition);
        }
        long lo = kv.memory().get(ValueLayout.JAVA_INT_UNALIGNED, off + 8) & 0xFFFF_FFFFL;
        long hi = kv.memory().get(ValueLayout.JAVA_INT_UNALIGNED, off + 12) & 0xFFFF_FFFFL;
        return lo | (hi << 32);
    }

    static long mix(long h, int token, int position) {
        long z = h * 0x9E3779B97F4A7C15L + token * 0xBF58476D1CE4E5B9L + position;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static void fillLogits(long h, float[] logits, int off, int vocab) {
        for (int v = 0; v < vocab; v++) {
            long z = mix(h, v, -1);
            logits[off + v] = (float) ((z >>> 40) * 0x1.0p-24 * 8.0); // [0, 8)
        }
    }

    /** The greedy continuation this model produces, computed without any KV cache. */
    public int[] greedy(int[] prompt, int maxTokens, int[] eos) {
        long h = SEED;
        int p = 0;
        for (int t : prompt) {
            h = mix(h, t, p++);
        }
        int[] out = new int[maxTokens];
        float[] row = new float[vocabSize];
        int n = 0;
        while (n < maxTokens && p < contextLength) {
            fillLogits(h, row, 0, vocabSize);
            int best = 0;
            for (int v = 1; v < vocabSize; v++) {
                if (row[v] > row[best]) {
                    best = v;
                }
            }
            out[n++] = best;
            boolean stop = false;
            for (int e : eos) {
                stop |= e == best;
            }
            if (stop) {
                break;
            }
            h = mix(h, best, p++);
        }
        return java.util.Arrays.copyOf(out, n);
    }

    @Override
    public void close() {
        closed = true;
    }
}
