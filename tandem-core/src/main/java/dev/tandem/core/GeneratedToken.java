package dev.tandem.core;

import java.util.Arrays;

/**
 * One generated token, with its log-probability and the most likely alternatives when asked.
 *
 * @param tokenId     the sampled id
 * @param logprob     natural-log probability of {@code tokenId} under the unpenalised,
 *                    untempered distribution (NaN when logprobs were not requested)
 * @param topIds      the n most likely ids, most likely first (empty unless requested)
 * @param topLogprobs their log-probabilities
 */
public record GeneratedToken(int tokenId, float logprob, int[] topIds, float[] topLogprobs) {
    private static final int[] NO_IDS = new int[0];
    private static final float[] NO_LOGPROBS = new float[0];

    public GeneratedToken {
        topIds = topIds == null ? NO_IDS : topIds;
        topLogprobs = topLogprobs == null ? NO_LOGPROBS : topLogprobs;
        if (topIds.length != topLogprobs.length) {
            throw new IllegalArgumentException("topIds " + topIds.length + " != topLogprobs " + topLogprobs.length);
        }
    }

    /** A token without logprobs. */
    public static GeneratedToken of(int tokenId) {
        return new GeneratedToken(tokenId, Float.NaN, NO_IDS, NO_LOGPROBS);
    }

    public boolean hasLogprob() {
        return !Float.isNaN(logprob);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GeneratedToken g && tokenId == g.tokenId
                && Float.compare(logprob, g.logprob) == 0
                && Arrays.equals(topIds, g.topIds) && Arrays.equals(topLogprobs, g.topLogprobs);
    }

    @Override
    public int hashCode() {
        return 31 * tokenId + Arrays.hashCode(topIds);
    }

    @Override
    public String toString() {
        return "GeneratedToken[" + tokenId + (hasLogprob() ? ", logprob=" + logprob : "")
                + (topIds.length > 0 ? ", top=" + Arrays.toString(topIds) : "") + "]";
    }
}
