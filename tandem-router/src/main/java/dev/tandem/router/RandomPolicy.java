package dev.tandem.router;

import java.util.Random;

/**
 * A uniformly random candidate among those not busy (a baseline).
 *
 * <pre>
 * Design
 *   Draws k in [0, available) and returns the k-th candidate that is not busy.
 *
 * Invariants
 *   Never returns a busy candidate; -1 only when all are busy.
 *
 * Concurrency
 *   Safe for concurrent use (java.util.Random is thread-safe); reproducible on one thread
 *   with a seeded Random.
 *
 * References
 *   Dynamo's client.random(), its default for non-KV routing.
 * </pre>
 */
public final class RandomPolicy implements RoutingPolicy {
    private final Random random;

    public RandomPolicy(Random random) {
        this.random = random;
    }

    @Override
    public String name() {
        return RouterConfig.PolicyKind.RANDOM.configName();
    }

    @Override
    public int select(Candidates c, RouteRequest request) {
        int available = c.available();
        return available == 0 ? -1 : RoutingPolicy.nthAvailable(c, random.nextInt(available));
    }
}
