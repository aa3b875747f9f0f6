package dev.tandem.core;

import java.util.List;

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
 *                         (entry i holds tokens {@code [i*blockSize, (i+1)*blockSize)})
 * @param layout           the issuing pool's block layout; a puller with another layout must not pull
 * @param expiresAtEpochMs wall-clock expiry in milliseconds since the epoch; after it the
 *                         blocks may be reused and must not be read
 */
public record KvHandle(long handleId, String workerId, List<TransferEndpoint> endpoints, List<Integer> blockIds,
                       KvLayout layout, long expiresAtEpochMs) {
    public KvHandle {
        if (workerId == null || workerId.isBlank()) {
            throw new IllegalArgumentException("KV handle " + handleId + " has no worker id");
        }
        if (endpoints == null || endpoints.isEmpty()) {
            throw new IllegalArgumentException("KV handle " + handleId + " from " + workerId + " has no transfer endpoint");
        }
        if (layout == null) {
            throw new IllegalArgumentException("KV handle " + handleId + " has no layout");
        }
        endpoints = List.copyOf(endpoints);
        blockIds = List.copyOf(blockIds);
        for (Integer id : blockIds) {
            if (id < 0) {
                throw new IllegalArgumentException("KV handle " + handleId + " has a negative block id " + id);
            }
        }
    }

    /** True once the pin may have lapsed. */
    public boolean expired(long nowEpochMs) {
        return nowEpochMs >= expiresAtEpochMs;
    }

    /** Block ids as an array, in prompt order. */
    public int[] blockIdArray() {
        int[] ids = new int[blockIds.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = blockIds.get(i);
        }
        return ids;
    }
}
