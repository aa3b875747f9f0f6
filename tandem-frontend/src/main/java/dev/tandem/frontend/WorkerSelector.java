package dev.tandem.frontend;

import java.util.List;

/**
 * Picks the worker for a request: the routing seam between the frontend and a router. The
 * frontend calls {@link #select} once per prompt (and once per stream it moves); each decision is
 * a {@link RoutedRequest} the request closes when it ends, which gives the router's load back.
 * Implementations are safe for concurrent use.
 */
public interface WorkerSelector {

    /**
     * @param request    what the router may look at (block hashes, length, user)
     * @param candidates the workers able to serve the request; never empty
     * @throws dev.tandem.frontend.openai.ApiException (503) when no candidate can take it now
     */
    RoutedRequest select(RoutingRequest request, List<Worker> candidates);

    /**
     * Picks a prefill worker for the prompt (the prefill half of a disaggregated request) among
     * {@code prefillWorkers}, never one whose queued prefill tokens reach
     * {@code busyQueuedPrefillTokens}. The caller closes the result when the prefill ends.
     *
     * @return the choice, or null when every prefill worker is busy (or this selector does not
     *         split requests): the decode worker then prefills locally
     */
    default RoutedRequest selectPrefill(RoutingRequest request, List<Worker> prefillWorkers,
                                        long busyQueuedPrefillTokens) {
        return null;
    }
}
