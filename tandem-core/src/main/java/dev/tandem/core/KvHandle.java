package dev.tandem.core;

import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A prefill worker's promise: the KV blocks of one prompt stay pinned in its pool until the
 * decode worker releases them or {@code expiresAtEpochMs} passes, whichever comes first.
 *
 * @param handleId          unique on the issuing worker; the key for release
 * @param workerId          the issuing (prefill) worker's instance id
 * @param blockIds          pinned block ids in the issuer's pool, in prompt order
 * @param sequenceHashes    the blocks' sequence hashes, same length as {@code blockIds}, so the
 *                          decode worker can skip blocks it already holds
 * @param promptTokens      prompt tokens whose KV the blocks hold
 * @param layout            the issuer's KV layout (checked before any byte moves)
 * @param expiresAtEpochMs  wall-clock time after which the issuer may unpin the blocks
 * @param transferEndpoints where the blocks can be pulled from, by transport name
 */
public record KvHandle(String handleId, String workerId, int[] blockIds, long[] sequenceHashes, int promptTokens,
                       KvLayout layout, long expiresAtEpochMs, Map<String, String> transferEndpoints) {
    public KvHandle {
        if (handleId == null || handleId.isBlank()) {
            throw new IllegalArgumentException("KV handle id is empty");
        }
        Objects.requireNonNull(workerId, "workerId");
        Objects.requireNonNull(layout, "layout");
        blockIds = blockIds.clone();
        sequenceHashes = sequenceHashes.clone();
        if (blockIds.length != sequenceHashes.length) {
            throw new IllegalArgumentException("KV handle " + handleId + ": " + blockIds.length + " block ids but "
                    + sequenceHashes.length + " sequence hashes");
        }
        if (promptTokens < 0) {
            throw new IllegalArgumentException("KV handle " + handleId + ": promptTokens=" + promptTokens);
        }
        transferEndpoints = Collections.unmodifiableMap(new TreeMap<>(
                transferEndpoints == null ? Map.of() : transferEndpoints));
    }

    /** A copy of the block ids. */
    @Override
    public int[] blockIds() {
        return blockIds.clone();
    }

    /** A copy of the sequence hashes. */
    @Override
    public long[] sequenceHashes() {
        return sequenceHashes.clone();
    }

    public int blockCount() {
        return blockIds.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof KvHandle h && handleId.equals(h.handleId) && workerId.equals(h.workerId)
                && Arrays.equals(blockIds, h.blockIds) && Arrays.equals(sequenceHashes, h.sequenceHashes)
                && promptTokens == h.promptTokens && layout.equals(h.layout)
                && expiresAtEpochMs == h.expiresAtEpochMs && transferEndpoints.equals(h.transferEndpoints);
    }

    @Override
    public int hashCode() {
        return handleId.hashCode() * 31 + Arrays.hashCode(blockIds);
    }

    @Override
    public String toString() {
        return "KvHandle[" + handleId + " on " + workerId + ", blocks=" + blockIds.length + ", promptTokens="
                + promptTokens + ", expiresAt=" + expiresAtEpochMs + "]";
    }
}
