package dev.tandem.core;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A prefill worker's promise that {@code blockIds} of its KV pool hold a prompt's cache and stay
 * pinned (unchanged) until released or until {@code expiresAtEpochMs}, whichever comes first.
 * The decode worker pulls the blocks it lacks through one of {@code endpoints}, then releases
 * the handle.
 *
 * @param handleId         unique per issuing worker; names the pin in release calls and transfer requests
 * @param workerId         the issuing worker's instance id
 * @param endpoints        how the pool can be reached, in the worker's order of preference
 * @param blockIds         the prompt's blocks in the issuing worker's pool, in prompt order
 *                         (entry i holds tokens {@code [i*blockSize, (i+1)*blockSize)}); when the
 *                         prompt is not a whole number of blocks the last entry is the partial
 *                         block holding its tail
 * @param sequenceHashes   the blocks' sequence hashes, same length as {@code blockIds}, so the
 *                         decode worker can skip blocks it already holds; a partial last block has
 *                         no sequence hash and carries 0
 * @param promptTokens     prompt tokens whose KV the handle describes
 * @param layout           the issuing pool's block layout; a puller with another layout must not pull
 * @param expiresAtEpochMs wall-clock expiry in milliseconds since the epoch; after it the
 *                         blocks may be reused and must not be read
 * @param transferParams   the serving engine's own description of where its blocks are, opaque
 *                         to Tandem (JSON text: vLLM's {@code kv_transfer_params}), for engines
 *                         that move the blocks themselves ({@link TransferKind#NIXL}); empty for
 *                         Tandem's own pools. A handle has them exactly when its one endpoint is
 *                         such a kind; it then names no block ids (the parameters do).
 */
public record KvHandle(long handleId, String workerId, List<TransferEndpoint> endpoints, int[] blockIds,
                       long[] sequenceHashes, int promptTokens, KvLayout layout, long expiresAtEpochMs,
                       String transferParams) {
    public KvHandle {
        if (workerId == null || workerId.isBlank()) {
            throw new IllegalArgumentException("KV handle " + handleId + " has no worker id");
        }
        if (endpoints == null || endpoints.isEmpty()) {
            throw new IllegalArgumentException("KV handle " + handleId + " from " + workerId + " has no transfer endpoint");
        }
        Objects.requireNonNull(layout, "layout");
        endpoints = List.copyOf(endpoints);
        blockIds = blockIds.clone();
        sequenceHashes = sequenceHashes.clone();
        if (blockIds.length != sequenceHashes.length) {
            throw new IllegalArgumentException("KV handle " + handleId + ": " + blockIds.length + " block ids but "
                    + sequenceHashes.length + " sequence hashes");
        }
        for (int id : blockIds) {
            if (id < 0) {
                throw new IllegalArgumentException("KV handle " + handleId + " has a negative block id " + id);
            }
        }
        if (promptTokens < 0) {
            throw new IllegalArgumentException("KV handle " + handleId + ": promptTokens=" + promptTokens);
        }
        transferParams = transferParams == null ? "" : transferParams;
        boolean byEngines = endpoints.stream().anyMatch(e -> e.kind().movedByEngines());
        if (byEngines && (endpoints.size() != 1 || transferParams.isBlank() || blockIds.length != 0)) {
            throw new IllegalArgumentException("KV handle " + handleId + " from " + workerId + ": blocks the engines "
                    + "move themselves need exactly one endpoint (got " + endpoints + "), the engine's transfer "
                    + "parameters (got '" + transferParams + "') and no Tandem block ids (got " + blockIds.length + ")");
        }
        if (!byEngines && !transferParams.isEmpty()) {
            throw new IllegalArgumentException("KV handle " + handleId + " from " + workerId + " carries engine "
                    + "transfer parameters but its endpoints " + endpoints + " are Tandem transports");
        }
    }

    /** A handle of Tandem's own pool (no engine transfer parameters). */
    public KvHandle(long handleId, String workerId, List<TransferEndpoint> endpoints, int[] blockIds,
                    long[] sequenceHashes, int promptTokens, KvLayout layout, long expiresAtEpochMs) {
        this(handleId, workerId, endpoints, blockIds, sequenceHashes, promptTokens, layout, expiresAtEpochMs, "");
    }

    /**
     * True when the serving engine moves the blocks itself (vLLM's NixlConnector): a Tandem
     * transfer plane cannot pull them, and {@link #transferParams()} is what the decode engine needs.
     */
    public boolean movedByEngines() {
        return !transferParams.isEmpty();
    }

    /** True once the pin may have lapsed. */
    public boolean expired(long nowEpochMs) {
        return nowEpochMs >= expiresAtEpochMs;
    }

    /** A copy of the block ids, in prompt order. */
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
        return o instanceof KvHandle h && handleId == h.handleId && workerId.equals(h.workerId)
                && endpoints.equals(h.endpoints) && Arrays.equals(blockIds, h.blockIds)
                && Arrays.equals(sequenceHashes, h.sequenceHashes) && promptTokens == h.promptTokens
                && layout.equals(h.layout) && expiresAtEpochMs == h.expiresAtEpochMs
                && transferParams.equals(h.transferParams);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(handleId) * 31 + workerId.hashCode();
    }

    @Override
    public String toString() {
        return "KvHandle[" + handleId + " on " + workerId + ", blocks=" + blockIds.length + ", promptTokens="
                + promptTokens + ", expiresAt=" + expiresAtEpochMs + ", endpoints=" + endpoints
                + (transferParams.isEmpty() ? "" : ", engine transfer parameters " + transferParams.length() + " chars")
                + "]";
    }
}
