package dev.tandem.core;

/**
 * A worker's load, reported on change and periodically.
 *
 * @param totalBlocks          blocks in the KV pool
 * @param activeBlocks         blocks referenced by running or pinned sequences
 * @param cachedBlocks         free blocks that still hold a registered prefix (evictable)
 * @param runningSequences     sequences in the running batch
 * @param waitingSequences     sequences admitted but not yet running
 * @param queuedPrefillTokens  prompt tokens still to be computed (running and waiting)
 * @param promptTokens         prompt tokens seen since start
 * @param cachedPromptTokens   of those, tokens served from the prefix cache
 */
public record LoadReport(int totalBlocks, int activeBlocks, int cachedBlocks, int runningSequences,
                         int waitingSequences, long queuedPrefillTokens, long promptTokens, long cachedPromptTokens) {

    public static final LoadReport IDLE = new LoadReport(0, 0, 0, 0, 0, 0, 0, 0);

    /** Fraction of the pool held by active sequences, in [0, 1]. */
    public double kvUsage() {
        return totalBlocks == 0 ? 0.0 : (double) activeBlocks / totalBlocks;
    }

    /** Cached prompt tokens / prompt tokens since start, in [0, 1]. */
    public double prefixHitRate() {
        return promptTokens == 0 ? 0.0 : (double) cachedPromptTokens / promptTokens;
    }
}
