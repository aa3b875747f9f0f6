package dev.tandem.router;

import dev.tandem.core.RequestException;

/**
 * Every request names its worker ({@link RouteRequest#targetWorker()}, from a header).
 *
 * <pre>
 * Design
 *   The router serves any request that names a worker directly, whatever the policy: the
 *   candidates shrink to that worker (UNKNOWN_WORKER if it is not in the pool, ALL_BUSY if it
 *   is busy). This policy adds the rule that a request without a target is bad input.
 *
 * Invariants
 *   select() is reached only by requests without a target, and always rejects them.
 *
 * Concurrency
 *   Stateless; safe for concurrent use.
 *
 * References
 *   Dynamo's client.direct(input, instance_id).
 * </pre>
 */
public final class DirectPolicy implements RoutingPolicy {

    @Override
    public String name() {
        return RouterConfig.PolicyKind.DIRECT.configName();
    }

    @Override
    public int select(Candidates c, RouteRequest request) {
        throw new RequestException(RequestException.Kind.INVALID, "[req=" + request.requestId()
                + "] the direct routing policy needs the request to name its worker", "worker", null);
    }
}
