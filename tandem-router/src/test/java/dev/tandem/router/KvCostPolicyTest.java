package dev.tandem.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.core.WorkerRole;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

/** The KV cost worked by hand (block size 16, so 128 prompt tokens are 8 blocks). */
class KvCostPolicyTest {
    private static final long[] PROMPT = LongStream.rangeClosed(101, 108).toArray();   // 8 block hashes

    private final ManualClock clock = new ManualClock(0);

    private Router router(double temperature, long seed) {
        RouterConfig cfg = RouterConfig.defaults().withMaxWorkers(8).withMaxIndexedBlocks(10_000, 1)
                .withCost(1.0, temperature);
        return Router.create(cfg, id -> { }, clock, new Random(seed));
    }

    private static void holds(Router r, String worker, int blocks) {
        if (blocks > 0) {
            long[] h = java.util.Arrays.copyOf(PROMPT, blocks);
            r.onKvEvent(worker, new KvEvent.Stored(0, false, 0, h, h.clone()));
        }
    }

    private static LoadReport load(int activeBlocks, long queuedPrefillTokens) {
        return new LoadReport(1000, activeBlocks, 0, 0, 0, queuedPrefillTokens, 0, 0);
    }

    /** A: 6 cached, 6 active. B: nothing cached, 1 active. C: 2 cached, 4 active, 32 tokens queued. */
    private Router threeWorkers() {
        Router r = router(0, 1);
        for (String w : List.of("A", "B", "C")) {
            r.addWorker(w, WorkerRole.AGGREGATED, true);
        }
        holds(r, "A", 6);
        holds(r, "C", 2);
        r.onLoadReport("A", load(6, 0));
        r.onLoadReport("B", load(1, 0));
        r.onLoadReport("C", load(4, 32));
        return r;
    }

    private static Decision.Routed routed(Decision d) {
        assertThat(d).isInstanceOf(Decision.Routed.class);
        return (Decision.Routed) d;
    }

    @Test
    void select_weightOne_prefersCachedPrefix() {
        // prefillBlocks = (prompt tokens not cached + queued prefill tokens) / 16:
        //   A: (128 - 6*16 + 0) / 16 = 2   cost = 1 * 2 + 6 = 8   <- lowest
        //   B: (128 - 0    + 0) / 16 = 8   cost = 1 * 8 + 1 = 9
        //   C: (128 - 2*16 + 32)/ 16 = 8   cost = 1 * 8 + 4 = 12
        Decision.Routed d = routed(threeWorkers().preview(RouteRequest.of("r", PROMPT, 128)));
        assertThat(d.workerId()).isEqualTo("A");
        assertThat(d.cost()).isEqualTo(8.0);
        assertThat(d.overlapBlocks()).isEqualTo(6);
        assertThat(d.overlapTokens()).isEqualTo(96);
        assertThat(d.requestBlocks()).isEqualTo(8);
        assertThat(d.policy()).isEqualTo("kv");
    }

    @Test
    void select_weightHalfPerRequest_prefersLightLoad() {
        // A: 0.5 * 2 + 6 = 7;  B: 0.5 * 8 + 1 = 5 <- lowest;  C: 0.5 * 8 + 4 = 8
        Decision.Routed d = routed(threeWorkers().preview(RouteRequest.of("r", PROMPT, 128).withOverlapWeight(0.5)));
        assertThat(d.workerId()).isEqualTo("B");
        assertThat(d.cost()).isEqualTo(5.0);
        assertThat(d.overlapBlocks()).isZero();
    }

    @Test
    void select_weightZero_isPureLoadBalancing() {
        // A: 0 + 6;  B: 0 + 1 <- lowest;  C: 0 + 4
        assertThat(routed(threeWorkers().preview(RouteRequest.of("r", PROMPT, 128).withOverlapWeight(0.0)))
                .workerId()).isEqualTo("B");
    }

    @Test
    void select_weightThree_stronglyPrefersCache() {
        // A: 3 * 2 + 6 = 12 <- lowest;  B: 3 * 8 + 1 = 25;  C: 3 * 8 + 4 = 28
        Decision.Routed d = routed(threeWorkers().preview(RouteRequest.of("r", PROMPT, 128).withOverlapWeight(3.0)));
        assertThat(d.workerId()).isEqualTo("A");
        assertThat(d.cost()).isEqualTo(12.0);
    }

    @Test
    void select_partialLastBlock_countsFractionalPrefill() {
        // 100 tokens = 6 full blocks (hashed) + 4 tokens. A holds 4 blocks:
        //   prefill = (100 - 4*16) / 16 = 36 / 16 = 2.25; no load -> cost 2.25.
        Router r = router(0, 1);
        r.addWorker("A", WorkerRole.AGGREGATED, true);
        holds(r, "A", 4);
        Decision.Routed d = routed(r.preview(RouteRequest.of("r", java.util.Arrays.copyOf(PROMPT, 6), 100)));
        assertThat(d.cost()).isEqualTo(2.25);
        assertThat(d.overlapTokens()).isEqualTo(64);
    }

    @Test
    void select_equalCost_goesToLeastLoaded() {
        // X: 2 cached, 4 active: (128 - 32)/16 = 6, cost 6 + 4 = 10
        // Y: 0 cached, 2 active: 128/16      = 8, cost 8 + 2 = 10   tie -> fewer active blocks: Y
        for (int attempt = 0; attempt < 4; attempt++) {      // whatever the rotation, Y wins
            Router r = router(0, 1);
            r.addWorker("X", WorkerRole.AGGREGATED, true);
            r.addWorker("Y", WorkerRole.AGGREGATED, true);
            holds(r, "X", 2);
            r.onLoadReport("X", load(4, 0));
            r.onLoadReport("Y", load(2, 0));
            for (int i = 0; i < attempt; i++) {
                r.preview(RouteRequest.of("warm", PROMPT, 128));
            }
            assertThat(routed(r.preview(RouteRequest.of("r", PROMPT, 128))).workerId()).isEqualTo("Y");
        }
    }

    @Test
    void select_equalCostAndLoad_goesToSmallerCache() {
        // A new prompt (no worker holds any of it) on three idle workers: every cost is 128/16 = 8
        // and every decode 0. P caches 5 blocks of another prompt, Q 1, R 3 -> Q, whatever the rotation.
        long[] other = LongStream.rangeClosed(201, 205).toArray();
        long[] fresh = LongStream.rangeClosed(301, 308).toArray();
        for (int attempt = 0; attempt < 3; attempt++) {
            Router r = router(0, 1);
            int[] cached = {5, 1, 3};
            String[] names = {"P", "Q", "R"};
            for (int w = 0; w < 3; w++) {
                r.addWorker(names[w], WorkerRole.AGGREGATED, true);
                long[] h = java.util.Arrays.copyOf(other, cached[w]);
                r.onKvEvent(names[w], new KvEvent.Stored(0, false, 0, h, h.clone()));
            }
            for (int i = 0; i < attempt; i++) {
                r.preview(RouteRequest.of("warm", fresh, 128));
            }
            Decision.Routed d = routed(r.preview(RouteRequest.of("r", fresh, 128)));
            assertThat(d.workerId()).as("attempt %d", attempt).isEqualTo("Q");
            assertThat(d.cost()).isEqualTo(8.0);
        }
    }

    @Test
    void select_identicalIdleWorkers_takeTurns() {
        Router r = router(0, 1);
        for (String w : List.of("A", "B", "C")) {
            r.addWorker(w, WorkerRole.AGGREGATED, true);
        }
        List<String> picks = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            picks.add(routed(r.preview(RouteRequest.of("r" + i, new long[0], 10))).workerId());
        }
        assertThat(picks).containsExactly("A", "B", "C", "A", "B", "C");
    }

    @Test
    void routeLifecycle_correctsLoadBetweenReports() {
        // W reports 10 active blocks. Each request: 64 tokens = 4 blocks, none cached.
        Router r = router(0, 1);
        r.addWorker("W", WorkerRole.AGGREGATED, true);
        r.onLoadReport("W", load(10, 0));
        long[] four = java.util.Arrays.copyOf(PROMPT, 4);
        Decision.Routed first = routed(r.route(RouteRequest.of("r1", four, 64)));
        assertThat(first.cost()).isEqualTo(4 + 10);              // 64/16 + 10

        // Routed: +4 active blocks, +64 queued prefill tokens.
        //   prefill = (64 + 64) / 16 = 8, decode = 10 + 4 = 14, cost 22
        assertThat(routed(r.preview(RouteRequest.of("q", four, 64))).cost()).isEqualTo(22.0);
        r.prefillDone(first);
        //   prefill = 64 / 16 = 4, decode 14, cost 18
        assertThat(routed(r.preview(RouteRequest.of("q", four, 64))).cost()).isEqualTo(18.0);
        r.finished(first);
        r.finished(first);                                       // idempotent
        //   back to 4 + 10 = 14
        assertThat(routed(r.preview(RouteRequest.of("q", four, 64))).cost()).isEqualTo(14.0);

        Decision.Routed second = routed(r.route(RouteRequest.of("r2", four, 64)));
        r.onLoadReport("W", load(20, 16));                       // a report resets the corrections
        //   prefill = (64 + 16) / 16 = 5, decode 20, cost 25
        assertThat(routed(r.preview(RouteRequest.of("q", four, 64))).cost()).isEqualTo(25.0);
        r.finished(second);                                      // routed before the report
        //   finishing r2 takes back its 64 prefill tokens and 4 blocks from the report's figures:
        //   queued = max(0, 16 - 64) = 0 -> prefill 64/16 = 4; decode = 20 - 4 = 16; cost 20
        assertThat(routed(r.preview(RouteRequest.of("q", four, 64))).cost()).isEqualTo(20.0);
        assertThat(r.workers().getFirst().inFlightRequests()).isZero();
        r.checkInvariants();
    }

    // ---------------------------------------------------------------- softmax sampling

    private Router sampled(double temperature, long seed) {
        // Costs 8, 9, 12 as in threeWorkers(), sampled instead of minimised.
        Router r = router(temperature, seed);
        for (String w : List.of("A", "B", "C")) {
            r.addWorker(w, WorkerRole.AGGREGATED, true);
        }
        holds(r, "A", 6);
        holds(r, "C", 2);
        r.onLoadReport("A", load(6, 0));
        r.onLoadReport("B", load(1, 0));
        r.onLoadReport("C", load(4, 32));
        return r;
    }

    private static List<String> draws(Router r, int n) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(routed(r.preview(RouteRequest.of("r" + i, PROMPT, 128))).workerId());
        }
        return out;
    }

    @Test
    void softmax_sameSeed_sameDecisions() {
        assertThat(draws(sampled(1.0, 42), 200)).isEqualTo(draws(sampled(1.0, 42), 200));
        assertThat(draws(sampled(1.0, 42), 200)).isNotEqualTo(draws(sampled(1.0, 43), 200));
    }

    @Test
    void softmax_frequencies_followNormalisedCosts() {
        // Costs 8, 9, 12 normalise to (c - 8) / 4 = 0, 0.25, 1. With T = 1 the weights are
        // e^0 = 1, e^-0.25 = 0.7788, e^-1 = 0.3679 (sum 2.1467): p = 0.4658, 0.3628, 0.1714.
        List<String> picks = draws(sampled(1.0, 7), 20_000);
        assertThat(share(picks, "A")).isCloseTo(0.4658, within(0.015));
        assertThat(share(picks, "B")).isCloseTo(0.3628, within(0.015));
        assertThat(share(picks, "C")).isCloseTo(0.1714, within(0.015));
    }

    @Test
    void softmax_temperatureOverridePerRequest() {
        Router r = sampled(1.0, 3);
        for (int i = 0; i < 50; i++) {
            // T = 0 on the request: always the lowest cost, whatever the configured temperature.
            assertThat(routed(r.preview(RouteRequest.of("r", PROMPT, 128).withTemperature(0.0))).workerId())
                    .isEqualTo("A");
        }
        // A tiny temperature makes the normalised gap of 0.25 decisive: e^(-0.25/0.01) ~ 1e-11.
        Router cold = sampled(0.01, 5);
        assertThat(draws(cold, 300)).containsOnly("A");
    }

    private static double share(List<String> picks, String worker) {
        return picks.stream().filter(worker::equals).count() / (double) picks.size();
    }
}
