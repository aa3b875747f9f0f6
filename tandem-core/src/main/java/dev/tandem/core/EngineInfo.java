package dev.tandem.core;

/**
 * What an engine serves and how its KV cache is laid out.
 *
 * @param modelName        the name clients use
 * @param layout           KV block layout
 * @param totalBlocks      blocks in the pool
 * @param maxBatchTokens   most tokens in one forward step
 * @param maxSequences     most sequences in one forward step
 * @param contextLength    most positions a sequence may have (prompt + generated)
 * @param vocabSize        vocabulary size
 * @param simulated        true for the mock engine (timing model, no real model)
 */
public record EngineInfo(String modelName, KvLayout layout, int totalBlocks, int maxBatchTokens,
                         int maxSequences, int contextLength, int vocabSize, boolean simulated) {
}
