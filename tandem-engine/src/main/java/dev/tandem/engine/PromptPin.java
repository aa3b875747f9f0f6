package dev.tandem.engine;

import java.util.Arrays;

/**
 * The KV blocks of a finished request's prompt, kept (pinned) so that a peer can copy them out
 * of the pool: the seam for disaggregated prefill. Blocks stay pinned until
 * {@link LlmEngine#releasePin} or until {@code expiresAtNanos} on the engine's clock.
 *
 * <p>Block {@code i} of {@link #blockIds()} holds positions {@code i * blockSize ..}; the last
 * block may be partial (its slots past the prompt are undefined). Immutable.
 */
public final class PromptPin {
    private final long pinId;
    private final String requestId;
    private final int promptTokens;
    private final int[] blockIds;
    private final long[] sequenceHashes;
    private final long expiresAtNanos;

    /**
     * @param sequenceHashes the blocks' sequence hashes as the engine computed them for its prefix
     *                       cache, same length as {@code blockIds}; a block the prompt does not
     *                       fill carries 0
     */
    public PromptPin(long pinId, String requestId, int promptTokens, int[] blockIds, long[] sequenceHashes,
                     long expiresAtNanos) {
        if (sequenceHashes.length != blockIds.length) {
            throw new IllegalArgumentException("pin " + pinId + ": " + blockIds.length + " blocks but "
                    + sequenceHashes.length + " hashes");
        }
        this.pinId = pinId;
        this.requestId = requestId;
        this.promptTokens = promptTokens;
        this.blockIds = blockIds.clone();
        this.sequenceHashes = sequenceHashes.clone();
        this.expiresAtNanos = expiresAtNanos;
    }

    public long pinId() {
        return pinId;
    }

    public String requestId() {
        return requestId;
    }

    /** Positions whose K/V the blocks hold. */
    public int promptTokens() {
        return promptTokens;
    }

    /** A copy of the pinned block ids, in position order. */
    public int[] blockIds() {
        return blockIds.clone();
    }

    /** A copy of the blocks' sequence hashes (0 for a block the prompt does not fill). */
    public long[] sequenceHashes() {
        return sequenceHashes.clone();
    }

    public int blockCount() {
        return blockIds.length;
    }

    public long expiresAtNanos() {
        return expiresAtNanos;
    }

    @Override
    public String toString() {
        return "PromptPin[" + pinId + ", req=" + requestId + ", tokens=" + promptTokens + ", blocks="
                + Arrays.toString(blockIds) + "]";
    }
}
