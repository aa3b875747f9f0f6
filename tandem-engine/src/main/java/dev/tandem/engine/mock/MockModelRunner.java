package dev.tandem.engine.mock;

import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.model.ForwardBatch;
import dev.tandem.engine.model.ModelRunner;
import java.util.Arrays;

/**
 * A model that is no model: for every sequence that wants logits it writes a row whose single
 * maximum is a pseudo-random token, a fixed function of the sequence's last token and position,
 * so greedy decoding is deterministic (the same prompt always continues the same way, alone or
 * batched, cached or not). It never touches the KV pool. Step durations come from a
 * {@link TimingProfile}, applied by the scheduler, not from here.
 *
 * <p>Owned by the engine thread; stateless between steps.
 */
public final class MockModelRunner implements ModelRunner {
    private final int vocabSize;
    private final int contextLength;
    private final long seed;

    /**
     * @param vocabSize     logits width (keep it small: the scheduler samples over it every token)
     * @param contextLength most positions per sequence
     * @param seed          varies the pseudo tokens between mock models
     */
    public MockModelRunner(int vocabSize, int contextLength, long seed) {
        if (vocabSize < 2 || contextLength < 2) {
            throw new IllegalArgumentException("vocabSize=" + vocabSize + " contextLength=" + contextLength);
        }
        this.vocabSize = vocabSize;
        this.contextLength = contextLength;
        this.seed = seed;
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
    public void forward(ForwardBatch batch, KvPool kv, float[] logits) {
        for (int s = 0; s < batch.sequenceCount(); s++) {
            if (!batch.wantsLogits(s)) {
                continue;
            }
            int last = batch.token(batch.tokenStart(s) + batch.tokenCount(s) - 1);
            int position = batch.endPosition(s) - 1;
            int row = s * vocabSize;
            Arrays.fill(logits, row, row + vocabSize, 0f);
            logits[row + nextToken(last, position)] = 1f;
        }
    }

    /** The token the mock predicts after {@code lastToken} at {@code position}. */
    public int nextToken(int lastToken, int position) {
        long z = seed ^ (lastToken * 0x9E3779B97F4A7C15L) ^ ((long) position * 0xC2B2AE3D27D4EB4FL);
        z = (z ^ (z >>> 33)) * 0xff51afd7ed558ccdL;
        z = (z ^ (z >>> 33)) * 0xc4ceb9fe1a85ec53L;
        z ^= z >>> 33;
        return (int) Long.remainderUnsigned(z, vocabSize);
    }

    @Override
    public void close() {
    }
}
