package dev.tandem.router;

import java.util.Random;

/**
 * Chooses a worker among a request's candidates. The router has already found the candidates
 * (workers of the request's pool), predicted each one's overlap and load, computed the KV cost
 * and marked the busy ones; a policy only picks.
 *
 * <p>Implementations are safe for concurrent use: several threads route at once.
 */
public sealed interface RoutingPolicy
        permits KvCostPolicy, RoundRobinPolicy, RandomPolicy, LeastLoadedPolicy, SessionAffinityPolicy {

    /** The policy's configuration name ({@link RouterConfig.PolicyKind#configName()}). */
    String name();

    /**
     * Returns the index of the chosen candidate, never a busy one, or -1 if none fits.
     *
     * @param candidates at least one candidate, at least one of them not busy
     */
    int select(Candidates candidates, RouteRequest request);

    /** The policy {@code config} names, drawing randomness from {@code random}. */
    static RoutingPolicy create(RouterConfig config, Random random) {
        return switch (config.policy()) {
            case KV -> new KvCostPolicy(config.temperature(), random);
            case ROUND_ROBIN -> new RoundRobinPolicy();
            case RANDOM -> new RandomPolicy(random);
            case LEAST_LOADED -> new LeastLoadedPolicy(config.leastLoadedMetric());
            case SESSION_AFFINITY -> new SessionAffinityPolicy(config.sessionVirtualNodes(),
                    new KvCostPolicy(config.temperature(), random));
        };
    }

    /** Relative tolerance under which two costs count as equal. */
    double TIE_EPSILON = 1e-9;

    static boolean tied(double a, double b) {
        return Math.abs(a - b) <= TIE_EPSILON * Math.max(1.0, Math.max(Math.abs(a), Math.abs(b)));
    }

    /** The k-th (0-based) candidate that is not busy, or -1. */
    static int nthAvailable(Candidates c, int k) {
        for (int i = 0; i < c.size(); i++) {
            if (!c.busy(i) && k-- == 0) {
                return i;
            }
        }
        return -1;
    }
}
