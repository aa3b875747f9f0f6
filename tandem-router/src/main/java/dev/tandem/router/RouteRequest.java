package dev.tandem.router;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.RequestException;
import dev.tandem.core.WorkerRole;
import java.util.Arrays;
import java.util.Objects;

/**
 * What the router needs to know about one request: its block hashes (the frontend tokenises
 * and hashes), its length, and optional routing hints.
 *
 * <p>{@code blockHashes} is not copied: the caller must not change it while the router uses
 * it (the router reads it during the call only).
 *
 * @param requestId     caller's id, for logs and decisions
 * @param blockHashes   sequence hashes of the prompt's full blocks ({@link BlockHasher}), in order
 * @param promptTokens  prompt length in tokens, at least 1 and at least
 *                      {@code blockHashes.length * blockSize} (checked by the router)
 * @param pool          which workers may serve it: AGGREGATED, or PREFILL / DECODE for the two
 *                      halves of a disaggregated request
 * @param sessionKey    session id header or OpenAI {@code user} field, for session affinity; or null
 * @param targetWorker  a worker id that must serve it (direct routing), or null
 * @param overlapWeight per-request override of {@link RouterConfig#overlapWeight()}, or null
 * @param temperature   per-request override of {@link RouterConfig#temperature()}, or null
 */
public record RouteRequest(String requestId, long[] blockHashes, int promptTokens, WorkerRole pool,
                           String sessionKey, String targetWorker, Double overlapWeight, Double temperature) {

    public RouteRequest {
        Objects.requireNonNull(requestId, "requestId");
        Objects.requireNonNull(blockHashes, "blockHashes");
        Objects.requireNonNull(pool, "pool");
        if (promptTokens < 1) {
            throw new RequestException(RequestException.Kind.INVALID,
                    "[req=" + requestId + "] prompt must have at least one token, got " + promptTokens, "prompt", null);
        }
        if (overlapWeight != null && !(overlapWeight >= 0 && overlapWeight <= 1e6)) {
            throw new RequestException(RequestException.Kind.INVALID,
                    "[req=" + requestId + "] overlap weight must be in [0, 1e6], got " + overlapWeight,
                    "overlap_weight", null);
        }
        if (temperature != null && !(temperature >= 0 && temperature <= 1e6)) {
            throw new RequestException(RequestException.Kind.INVALID,
                    "[req=" + requestId + "] router temperature must be in [0, 1e6], got " + temperature,
                    "router_temperature", null);
        }
    }

    /** An aggregated request with no hints. */
    public static RouteRequest of(String requestId, long[] blockHashes, int promptTokens) {
        return new RouteRequest(requestId, blockHashes, promptTokens, WorkerRole.AGGREGATED, null, null, null, null);
    }

    /** Hashes {@code tokens} into blocks of {@code blockSize} and builds an aggregated request. */
    public static RouteRequest ofTokens(String requestId, int[] tokens, int blockSize) {
        return of(requestId, BlockHasher.sequenceHashes(tokens, blockSize), tokens.length);
    }

    public RouteRequest withPool(WorkerRole p) {
        return new RouteRequest(requestId, blockHashes, promptTokens, p, sessionKey, targetWorker, overlapWeight,
                temperature);
    }

    public RouteRequest withSessionKey(String key) {
        return new RouteRequest(requestId, blockHashes, promptTokens, pool, key, targetWorker, overlapWeight,
                temperature);
    }

    public RouteRequest withTargetWorker(String workerId) {
        return new RouteRequest(requestId, blockHashes, promptTokens, pool, sessionKey, workerId, overlapWeight,
                temperature);
    }

    public RouteRequest withOverlapWeight(Double weight) {
        return new RouteRequest(requestId, blockHashes, promptTokens, pool, sessionKey, targetWorker, weight,
                temperature);
    }

    public RouteRequest withTemperature(Double temp) {
        return new RouteRequest(requestId, blockHashes, promptTokens, pool, sessionKey, targetWorker, overlapWeight,
                temp);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof RouteRequest r && requestId.equals(r.requestId) && Arrays.equals(blockHashes, r.blockHashes)
                && promptTokens == r.promptTokens && pool == r.pool && Objects.equals(sessionKey, r.sessionKey)
                && Objects.equals(targetWorker, r.targetWorker) && Objects.equals(overlapWeight, r.overlapWeight)
                && Objects.equals(temperature, r.temperature);
    }

    @Override
    public int hashCode() {
        return Objects.hash(requestId, Arrays.hashCode(blockHashes), promptTokens, pool, sessionKey, targetWorker);
    }

    @Override
    public String toString() {
        return "RouteRequest[" + requestId + ", blocks=" + blockHashes.length + ", tokens=" + promptTokens
                + ", pool=" + pool + (sessionKey != null ? ", session=" + sessionKey : "")
                + (targetWorker != null ? ", target=" + targetWorker : "")
                + (overlapWeight != null ? ", overlapWeight=" + overlapWeight : "")
                + (temperature != null ? ", temperature=" + temperature : "") + "]";
    }
}
