package dev.tandem.router;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Each decision takes the next candidate in turn, ignoring caches and load (a baseline).
 *
 * <pre>
 * Design
 *   A shared counter k; decision k starts at candidate k mod n and takes the first one that
 *   is not busy. Candidates are in registration order, so with a stable membership and no
 *   busy worker the sequence is w0, w1, ..., w(n-1), w0, ...
 *
 * Invariants
 *   Never returns a busy candidate; -1 only when all are busy.
 *
 * Concurrency
 *   Safe for concurrent use (atomic counter).
 *
 * References
 *   Dynamo's client.round_robin(); the baseline of the trace-replay comparison.
 * </pre>
 */
public final class RoundRobinPolicy implements RoutingPolicy {
    private final AtomicLong next = new AtomicLong();

    @Override
    public String name() {
        return RouterConfig.PolicyKind.ROUND_ROBIN.configName();
    }

    @Override
    public int select(Candidates c, RouteRequest request) {
        int n = c.size();
        int start = (int) Math.floorMod(next.getAndIncrement(), (long) n);
        for (int k = 0; k < n; k++) {
            int i = (start + k) % n;
            if (!c.busy(i)) {
                return i;
            }
        }
        return -1;
    }
}
