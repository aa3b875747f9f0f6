package dev.tandem.router;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.KvEvent;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.WorkerRole;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ApproximateModeTest {
    private static final long[] PROMPT = {1, 2, 3, 4, 5, 6};

    private final ManualClock clock = new ManualClock(5_000_000_000L);
    private final List<String> snapshotRequests = new ArrayList<>();
    private final Router router = Router.create(RouterConfig.defaults().withMaxWorkers(8)
            .withMaxIndexedBlocks(10_000, 1).withApprox(10_000, 10_000), snapshotRequests::add, clock, new Random(1));

    private Decision.Routed route(String id, long[] hashes) {
        Decision d = router.route(RouteRequest.of(id, hashes, hashes.length * 16));
        assertThat(d).isInstanceOf(Decision.Routed.class);
        return (Decision.Routed) d;
    }

    private int overlapOn(String worker, long[] hashes) {
        Decision d = router.preview(RouteRequest.of("probe", hashes, hashes.length * 16).withTargetWorker(worker));
        return ((Decision.Routed) d).overlapBlocks();
    }

    @Test
    void noEvents_routedPrefixCountsAsCachedUntilTtl() {
        router.addWorker("silent", WorkerRole.AGGREGATED, false);
        Decision.Routed first = route("r1", PROMPT);
        assertThat(first.overlapBlocks()).isZero();
        assertThat(first.approximate()).isTrue();
        assertThat(overlapOn("silent", PROMPT)).isEqualTo(6);
        assertThat(overlapOn("silent", new long[] {1, 2, 99})).isEqualTo(2);

        clock.advanceMs(9_999);
        assertThat(overlapOn("silent", PROMPT)).as("just before the 10 s TTL").isEqualTo(6);
        clock.advanceMs(1);
        assertThat(overlapOn("silent", PROMPT)).as("expired at the TTL").isZero();
        assertThat(router.stats().approximateExpired()).isEqualTo(6);
        assertThat(router.stats().approximateBlocks()).isZero();
        router.checkInvariants();
    }

    @Test
    void noEvents_rerouteRefreshesTtl() {
        router.addWorker("silent", WorkerRole.AGGREGATED, false);
        route("r1", PROMPT);
        clock.advanceMs(6_000);
        route("r2", new long[] {1, 2, 3});           // refreshes blocks 1..3 only
        clock.advanceMs(4_000);                      // 10 s after r1, 4 s after r2
        router.doWork();
        assertThat(overlapOn("silent", PROMPT)).isEqualTo(3);
        clock.advanceMs(6_000);                      // 10 s after r2
        router.doWork();
        assertThat(overlapOn("silent", PROMPT)).isZero();
        router.checkInvariants();
    }

    @Test
    void noEvents_repeatedPrefixFollowsRecordedDecision() {
        router.addWorker("a", WorkerRole.AGGREGATED, false);
        router.addWorker("b", WorkerRole.AGGREGATED, false);
        router.addWorker("c", WorkerRole.AGGREGATED, false);
        Decision.Routed first = route("r0", PROMPT);
        router.finished(first);                      // in flight, its load would outweigh the cache
        String home = first.workerId();
        for (int i = 1; i < 5; i++) {
            Decision.Routed d = route("r" + i, PROMPT);
            assertThat(d.workerId()).isEqualTo(home);
            assertThat(d.overlapBlocks()).isEqualTo(6);
            router.finished(d);
        }
    }

    @Test
    void eventWorker_decisionsAreNotRecorded() {
        router.addWorker("loud", WorkerRole.AGGREGATED, true);
        Decision.Routed d = route("r1", PROMPT);
        assertThat(d.approximate()).isFalse();
        assertThat(overlapOn("loud", PROMPT)).as("only events say what it holds").isZero();
        router.onKvEvent("loud", new KvEvent.Stored(0, false, 0, PROMPT, PROMPT.clone()));
        assertThat(overlapOn("loud", PROMPT)).isEqualTo(6);
    }

    @Test
    void awaitingSnapshot_routesApproximatelyThenEventsTakeOver() {
        router.addWorker("w", WorkerRole.AGGREGATED, true);
        router.onKvEvent("w", new KvEvent.Stored(0, false, 0, new long[] {1}, new long[] {1}));
        router.onKvEvent("w", new KvEvent.Stored(5, false, 0, new long[] {50}, new long[] {50}));   // gap
        assertThat(snapshotRequests).containsExactly("w");

        Decision.Routed d = route("r1", PROMPT);
        assertThat(d.approximate()).isTrue();
        assertThat(d.overlapBlocks()).as("stale event index still counts").isEqualTo(1);
        assertThat(overlapOn("w", PROMPT)).as("plus the router's own record").isEqualTo(6);

        router.onKvSnapshot("w", new KvSnapshot(5, new long[] {1, 2, 50}));
        assertThat(router.stats().approximateWorkers()).isZero();
        assertThat(overlapOn("w", PROMPT)).as("the snapshot is the truth again").isEqualTo(2);
        router.checkInvariants();
    }

    @Test
    void eventsUnavailable_switchesToApproximateAndBack() {
        router.addWorker("w", WorkerRole.AGGREGATED, true);
        router.setEventsAvailable("w", false);
        assertThat(route("r1", PROMPT).approximate()).isTrue();
        assertThat(overlapOn("w", PROMPT)).isEqualTo(6);
        router.setEventsAvailable("w", true);
        assertThat(overlapOn("w", PROMPT)).isZero();
        assertThat(router.stats().approximateBlocks()).isZero();
    }

    @Test
    void randomDecisionsAndExpiry_keepInvariants() {
        SplittableRandom rnd = new SplittableRandom(99);
        router.addWorker("a", WorkerRole.AGGREGATED, false);
        router.addWorker("b", WorkerRole.AGGREGATED, false);
        for (int i = 0; i < 400; i++) {
            long[] hashes = new long[1 + rnd.nextInt(5)];
            for (int j = 0; j < hashes.length; j++) {
                hashes[j] = rnd.nextInt(30);
            }
            Decision.Routed d = route("r" + i, hashes);
            router.finished(d);
            clock.advanceMs(rnd.nextInt(200));
            if (i % 50 == 0) {
                router.doWork();
                router.checkInvariants();
            }
        }
        clock.advanceMs(10_000);
        router.doWork();
        assertThat(router.stats().approximateBlocks()).isZero();
        router.checkInvariants();
    }
}
