package dev.tandem.bench;

import java.util.List;

/**
 * A sequence of requests that run one after another (a conversation), or a single request.
 *
 * @param id              position in the workload, from 0
 * @param systemPrompt    system message put before a chat session's history; null for none
 * @param steps           the requests, in order; at least one
 * @param arrivalOffsetNs when the first request arrives, relative to the start of the run, for
 *                        trace-timed arrival (0 for workloads without timestamps)
 */
public record Session(int id, String systemPrompt, List<Step> steps, long arrivalOffsetNs) {
    public Session {
        steps = List.copyOf(steps);
        if (steps.isEmpty()) {
            throw new IllegalArgumentException("session " + id + " has no steps");
        }
        if (arrivalOffsetNs < 0) {
            throw new IllegalArgumentException("arrivalOffsetNs must be >= 0, got " + arrivalOffsetNs);
        }
    }
}
