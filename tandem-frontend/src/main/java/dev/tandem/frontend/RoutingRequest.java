package dev.tandem.frontend;

import java.util.Arrays;

/**
 * What the router sees of a request: its prompt as chained block hashes (full blocks only), the
 * prompt length, and the end-user id when the client sent one.
 *
 * @param requestId    for logs
 * @param blockHashes  sequence hashes of the prompt's full blocks ({@link dev.tandem.core.BlockHasher})
 * @param promptTokens prompt length in tokens
 * @param user         the request's {@code user} field, or null
 */
public record RoutingRequest(String requestId, long[] blockHashes, int promptTokens, String user) {
    public RoutingRequest {
        blockHashes = blockHashes.clone();
    }

    @Override
    public long[] blockHashes() {
        return blockHashes.clone();
    }

    public int blockCount() {
        return blockHashes.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RoutingRequest r && requestId.equals(r.requestId)
                && Arrays.equals(blockHashes, r.blockHashes) && promptTokens == r.promptTokens
                && java.util.Objects.equals(user, r.user);
    }

    @Override
    public int hashCode() {
        return requestId.hashCode() * 31 + Arrays.hashCode(blockHashes);
    }

    @Override
    public String toString() {
        return "RoutingRequest[" + requestId + ", blocks=" + blockHashes.length + ", tokens=" + promptTokens + "]";
    }
}
