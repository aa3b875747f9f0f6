package dev.tandem.engine.scheduler;

/**
 * How long a simulated forward step takes. With a step timing, the scheduler treats a step as
 * in flight until the clock reaches its start plus this duration and only then emits its tokens;
 * without one (the real model), a step is over when {@code ModelRunner.forward} returns.
 */
@FunctionalInterface
public interface StepTiming {
    /**
     * @param prefillTokens   prompt (or recomputed) tokens in the step
     * @param decodeSequences sequences decoding one token in the step
     * @param activeBlocks    KV blocks in use when the step starts
     * @param totalBlocks     KV blocks in the pool
     * @return the step's duration in nanoseconds, at least 1
     */
    long stepNanos(int prefillTokens, int decodeSequences, int activeBlocks, int totalBlocks);
}
