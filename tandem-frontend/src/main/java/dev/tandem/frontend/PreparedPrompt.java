package dev.tandem.frontend;

import dev.tandem.core.BlockHasher;

/**
 * A prompt after preprocessing: token ids and the chained hashes of its full blocks, which the
 * router matches against the workers' caches. Immutable.
 */
final class PreparedPrompt {
    private final int[] tokens;
    private final long[] blockHashes;

    PreparedPrompt(int[] tokens, int blockSizeTokens) {
        this.tokens = tokens;
        this.blockHashes = BlockHasher.sequenceHashes(tokens, blockSizeTokens);
    }

    /** The ids; not copied, callers must not write. */
    int[] tokens() {
        return tokens;
    }

    int length() {
        return tokens.length;
    }

    RoutingRequest routingRequest(String requestId, String user) {
        return new RoutingRequest(requestId, blockHashes, tokens.length, user);
    }
}
