package dev.tandem.engine.model;

import dev.tandem.engine.kvcache.KvPool;

/**
 * Runs forward steps for the scheduler: the real transformer, or the mock engine's timing model.
 *
 * <p>Owned by the engine's scheduler thread; implementations may use a worker pool internally.
 */
public interface ModelRunner extends AutoCloseable {

    /** Vocabulary size: the width of one logits row. */
    int vocabSize();

    /** Most positions one sequence may have. */
    int contextLength();

    /**
     * Runs one step: writes K and V of every new position into {@code kv} through the batch's
     * block tables, and for every sequence {@code s} with {@code wantsLogits(s)} writes the
     * logits of its last token to {@code logits[s * vocabSize() .. (s+1) * vocabSize())}.
     *
     * @param logits at least {@code batch.sequenceCount() * vocabSize()} floats
     */
    void forward(ForwardBatch batch, KvPool kv, float[] logits);

    @Override
    void close();
}
