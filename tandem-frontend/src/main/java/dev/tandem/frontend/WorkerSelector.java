package dev.tandem.frontend;

import java.util.List;

/**
 * Picks the worker for a request: the routing seam between the frontend and a router. The
 * frontend calls {@link #select} once per prompt, {@link #firstToken} when the prompt's first
 * token arrives, and {@link #finished} when the request ends (all three on the request thread).
 * Implementations are safe for concurrent use.
 */
public interface WorkerSelector {

    /**
     * @param request    what the router may look at (block hashes, length, user)
     * @param candidates the workers able to serve the request; never empty
     * @throws dev.tandem.frontend.openai.ApiException (503) when no candidate can take it now
     */
    Selection select(RoutingRequest request, List<Worker> candidates);

    /**
     * Picks a prefill worker for the prompt (the prefill half of a disaggregated request) among
     * {@code prefillWorkers}, never one whose queued prefill tokens reach
     * {@code busyQueuedPrefillTokens}. The caller calls {@link #firstToken} and {@link #finished}
     * with the result when the prefill ends.
     *
     * @return the choice, or null when every prefill worker is busy (or this selector does not
     *         split requests): the decode worker then prefills locally
     */
    default Selection selectPrefill(RoutingRequest request, List<Worker> prefillWorkers,
                                    long busyQueuedPrefillTokens) {
        return null;
    }

    /** The selected worker produced the request's first token (its prefill is done). */
    default void firstToken(Selection selection) {
    }

    /** The request routed by {@link #select} ended: finished, failed or cancelled. */
    default void finished(Selection selection) {
    }

    /**
     * A routing decision.
     *
     * @param worker                the chosen worker
     * @param predictedCachedTokens prompt tokens the router expects the worker to have cached
     *                              (0 when the policy does not know)
     * @param routerState           what the router needs back in {@link #firstToken} and
     *                              {@link #finished}, or null
     */
    record Selection(Worker worker, int predictedCachedTokens, Object routerState) {
        public Selection(Worker worker, int predictedCachedTokens) {
            this(worker, predictedCachedTokens, null);
        }
    }
}
