package dev.tandem.cli.planner;

/**
 * What the planner sees of the cluster over one metrics window.
 *
 * @param requests       requests that got their first token in the window
 * @param ttftP95Ms      p95 time to first token over the window, ms; NaN without requests
 * @param itlP95Ms       p95 inter-token latency over the window, ms; NaN without tokens
 * @param queued         requests waiting in the frontend's admission queue now
 * @param prefillWaiting sequences waiting inside prefill workers now
 * @param decodeWaiting  sequences waiting inside decode workers now
 * @param decodeKvUsage  mean KV usage of the decode workers now, [0, 1]
 */
public record Observation(long requests, double ttftP95Ms, double itlP95Ms, int queued, int prefillWaiting,
                          int decodeWaiting, double decodeKvUsage) {
    /** True when nothing arrived in the window and nothing waits. */
    boolean idle() {
        return requests == 0 && queued == 0 && prefillWaiting == 0 && decodeWaiting == 0;
    }
}
