package dev.tandem.frontend;

import java.util.List;

/**
 * Picks the worker for a request: the routing seam. Round-robin until the KV-aware router is
 * plugged in here. Implementations are safe for concurrent use.
 */
public interface WorkerSelector {

    /**
     * @param request    what the router may look at (block hashes, length, user)
     * @param candidates the workers able to serve the request; never empty
     */
    Selection select(RoutingRequest request, List<Worker> candidates);

    /** Told that a request routed by {@link #select} finished (for load tracking); optional. */
    default void finished(Selection selection, RoutingRequest request) {
    }

    /**
     * A routing decision.
     *
     * @param worker                 the chosen worker
     * @param predictedCachedTokens  prompt tokens the router expects the worker to have cached
     *                               (0 when the policy does not know)
     */
    record Selection(Worker worker, int predictedCachedTokens) {
    }
}
