package dev.tandem.router;

import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The default policy: the lowest KV cost wins.
 *
 * <pre>
 * Design
 *   cost(w) = overlapWeight * prefillBlocks(w) + decodeBlocks(w), computed by the router
 *   (Candidates.cost) with the request's weight or the configured one, where
 *     prefillBlocks(w) = (prompt tokens not cached on w + prefill tokens queued on w) / blockSize
 *     decodeBlocks(w)  = w's active blocks, from its last load report corrected by the requests
 *                        this router sent since.
 *   Temperature 0: the lowest cost wins; equal costs go to the lower decodeBlocks (the least
 *   loaded), then to the worker whose cache holds fewer blocks (Dynamo's "tree size"
 *   tie-break: new prefixes go where they evict the least); remaining ties go to the first in an
 *   order that rotates by one each decision, so identical idle workers take turns.
 *   Temperature T > 0: softmax sampling. Costs are normalised to [0, 1] over the available
 *   candidates, n(w) = (cost(w) - min) / (max - min), and w is drawn with probability
 *   proportional to exp(-n(w) / T). All equal: uniform. Normalising makes T independent of the
 *   prompt length; the exponent lies in [-1/T, 0], so nothing overflows.
 *
 * Invariants
 *   Never returns a busy candidate; returns -1 only if every candidate is busy.
 *
 * Concurrency
 *   Safe for concurrent use: the rotation counter is atomic and java.util.Random is thread-safe.
 *   With one thread and a seeded Random, a sequence of decisions is reproducible.
 *
 * References
 *   Dynamo KV router: cost = overlap_score_weight * prefill_blocks + decode_blocks, and
 *   softmax sampling over normalised cost logits with --router-temperature
 *   (docs/router/kv_cache_routing.md). KvCostPolicyTest works examples by hand.
 * </pre>
 */
public final class KvCostPolicy implements RoutingPolicy {
    private final double temperature;
    private final Random random;
    private final AtomicLong rotation = new AtomicLong();

    /**
     * @param temperature default softmax temperature, >= 0 (a request may override it)
     * @param random      randomness for sampling; seed it for reproducible decisions
     */
    public KvCostPolicy(double temperature, Random random) {
        if (!(temperature >= 0)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        this.temperature = temperature;
        this.random = random;
    }

    @Override
    public String name() {
        return RouterConfig.PolicyKind.KV.configName();
    }

    @Override
    public int select(Candidates c, RouteRequest request) {
        double t = request.temperature() != null ? request.temperature() : temperature;
        return t > 0 ? sample(c, t) : lowest(c);
    }

    private int lowest(Candidates c) {
        int n = c.size();
        int start = (int) Math.floorMod(rotation.getAndIncrement(), (long) n);
        int best = -1;
        for (int k = 0; k < n; k++) {
            int i = start + k < n ? start + k : start + k - n;
            if (c.busy(i)) {
                continue;
            }
            if (best < 0 || better(c, i, best)) {
                best = i;
            }
        }
        return best;
    }

    private static boolean better(Candidates c, int i, int best) {
        if (!RoutingPolicy.tied(c.cost(i), c.cost(best))) {
            return c.cost(i) < c.cost(best);
        }
        if (!RoutingPolicy.tied(c.decodeBlocks(i), c.decodeBlocks(best))) {
            return c.decodeBlocks(i) < c.decodeBlocks(best);
        }
        return c.cachedBlocks(i) < c.cachedBlocks(best);
    }

    private int sample(Candidates c, double t) {
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < c.size(); i++) {
            if (!c.busy(i)) {
                min = Math.min(min, c.cost(i));
                max = Math.max(max, c.cost(i));
            }
        }
        if (min == Double.POSITIVE_INFINITY) {
            return -1;
        }
        if (RoutingPolicy.tied(min, max)) {
            return RoutingPolicy.nthAvailable(c, random.nextInt(c.available()));
        }
        double range = max - min;
        double total = 0;
        for (int i = 0; i < c.size(); i++) {
            if (!c.busy(i)) {
                total += weight(c.cost(i), min, range, t);
            }
        }
        double u = random.nextDouble() * total;
        int last = -1;
        for (int i = 0; i < c.size(); i++) {
            if (c.busy(i)) {
                continue;
            }
            last = i;
            u -= weight(c.cost(i), min, range, t);
            if (u < 0) {
                return i;
            }
        }
        return last;   // rounding left u at or just above 0
    }

    /** Unnormalised probability exp(-((cost - min) / range) / t), in [exp(-1/t), 1]. */
    static double weight(double cost, double min, double range, double t) {
        return Math.exp(-((cost - min) / range) / t);
    }
}
