package dev.tandem.router;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.WorkerRole;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Requests of one session (a session id header or the OpenAI {@code user} field) go to the same
 * worker, so a conversation finds its own cache even without KV events.
 *
 * <pre>
 * Design
 *   Consistent hashing: each candidate worker owns virtualNodes points on a 64-bit ring at
 *   XXH3(workerId + "#" + v); a session goes to the owner of the first point at or after
 *   XXH3(sessionKey), walking on past busy workers. When a worker joins or leaves, only the
 *   sessions on the arcs it gains or loses move (about 1/n of them), unlike hash mod n.
 *   One ring per pool, rebuilt when the membership version changes. Requests without a
 *   session key go to the fallback policy (the KV cost policy by default).
 *
 * Invariants
 *   Ring points are sorted; each candidate owns exactly virtualNodes points. Never returns a
 *   busy candidate; -1 only when all are busy.
 *
 * Concurrency
 *   Safe for concurrent use: rings are immutable and published through an atomic array; two
 *   threads may both rebuild after a membership change, and either result is the same ring.
 *
 * References
 *   Karger et al., "Consistent hashing and random trees" (STOC 1997); virtual nodes as in
 *   Dynamo (Amazon, 2007) and nginx's ketama-style upstream hashing.
 * </pre>
 */
public final class SessionAffinityPolicy implements RoutingPolicy {

    /** An immutable ring: sorted points and the slot owning each. */
    private static final class Ring {
        final long version;
        final long[] points;
        final int[] slots;

        Ring(long version, long[] points, int[] slots) {
            this.version = version;
            this.points = points;
            this.slots = slots;
        }
    }

    private final int virtualNodes;
    private final RoutingPolicy fallback;
    private final AtomicReferenceArray<Ring> rings = new AtomicReferenceArray<>(WorkerRole.values().length);

    /**
     * @param virtualNodes points per worker on the ring, >= 1
     * @param fallback     policy for requests without a session key
     */
    public SessionAffinityPolicy(int virtualNodes, RoutingPolicy fallback) {
        if (virtualNodes < 1) {
            throw new IllegalArgumentException("virtualNodes must be >= 1, got " + virtualNodes);
        }
        this.virtualNodes = virtualNodes;
        this.fallback = fallback;
    }

    @Override
    public String name() {
        return RouterConfig.PolicyKind.SESSION_AFFINITY.configName();
    }

    @Override
    public int select(Candidates c, RouteRequest request) {
        if (request.sessionKey() == null) {
            return fallback.select(c, request);
        }
        Ring ring = ringFor(c);
        long h = hash(request.sessionKey());
        int at = Arrays.binarySearch(ring.points, h);
        int start = at >= 0 ? at : -at - 1;
        for (int k = 0; k < ring.points.length; k++) {
            int p = (start + k) % ring.points.length;
            int i = c.indexOfSlot(ring.slots[p]);
            if (i >= 0 && !c.busy(i)) {
                return i;
            }
        }
        return -1;
    }

    private Ring ringFor(Candidates c) {
        int pool = c.pool().ordinal();
        Ring ring = rings.get(pool);
        if (ring == null || ring.version != c.membershipVersion()) {
            ring = build(c);
            rings.set(pool, ring);
        }
        return ring;
    }

    private Ring build(Candidates c) {
        int n = c.size() * virtualNodes;
        long[] keyed = new long[n];
        long[] points = new long[n];
        int[] slots = new int[n];
        Integer[] order = new Integer[n];
        for (int i = 0, p = 0; i < c.size(); i++) {
            for (int v = 0; v < virtualNodes; v++, p++) {
                keyed[p] = hash(c.workerId(i) + "#" + v);
                slots[p] = c.slot(i);
                order[p] = p;
            }
        }
        Arrays.sort(order, (a, b) -> Long.compare(keyed[a], keyed[b]));
        int[] sortedSlots = new int[n];
        for (int p = 0; p < n; p++) {
            points[p] = keyed[order[p]];
            sortedSlots[p] = slots[order[p]];
        }
        return new Ring(c.membershipVersion(), points, sortedSlots);
    }

    static long hash(String text) {
        return BlockHasher.xxh3(text.getBytes(StandardCharsets.UTF_8));
    }
}
