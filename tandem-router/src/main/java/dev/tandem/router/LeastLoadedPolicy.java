package dev.tandem.router;

import java.util.concurrent.atomic.AtomicLong;

/**
 * The candidate with the least load, ignoring caches.
 *
 * <pre>
 * Design
 *   Load is either active KV blocks (last load report corrected by this router's requests
 *   since, as in the KV cost's decodeBlocks) or this router's in-flight requests to the
 *   worker. Ties go to the first in an order that rotates by one each decision.
 *
 * Invariants
 *   Never returns a busy candidate; -1 only when all are busy.
 *
 * Concurrency
 *   Safe for concurrent use (atomic rotation; loads are read without locks).
 *
 * References
 *   "Least outstanding requests" balancing as in Envoy and AWS ALB.
 * </pre>
 */
public final class LeastLoadedPolicy implements RoutingPolicy {
    private final RouterConfig.LeastLoadedMetric metric;
    private final AtomicLong rotation = new AtomicLong();

    public LeastLoadedPolicy(RouterConfig.LeastLoadedMetric metric) {
        this.metric = metric;
    }

    @Override
    public String name() {
        return RouterConfig.PolicyKind.LEAST_LOADED.configName();
    }

    public RouterConfig.LeastLoadedMetric metric() {
        return metric;
    }

    @Override
    public int select(Candidates c, RouteRequest request) {
        int n = c.size();
        int start = (int) Math.floorMod(rotation.getAndIncrement(), (long) n);
        int best = -1;
        double bestLoad = Double.POSITIVE_INFINITY;
        for (int k = 0; k < n; k++) {
            int i = (start + k) % n;
            if (c.busy(i)) {
                continue;
            }
            double load = switch (metric) {
                case ACTIVE_BLOCKS -> c.decodeBlocks(i);
                case IN_FLIGHT_REQUESTS -> c.inFlightRequests(i);
            };
            if (load < bestLoad) {
                best = i;
                bestLoad = load;
            }
        }
        return best;
    }
}
