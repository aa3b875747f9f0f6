package dev.tandem.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RequestException;
import dev.tandem.core.WorkerRole;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class RoutingPoliciesTest {
    private static final long[] PROMPT = {1, 2, 3, 4};

    private Router router(RouterConfig.PolicyKind kind, RouterConfig base, String... workers) {
        RouterConfig cfg = base.withMaxWorkers(16).withMaxIndexedBlocks(10_000, 1).withPolicy(kind);
        Router r = Router.create(cfg, id -> { }, new ManualClock(0), new Random(11));
        for (String w : workers) {
            r.addWorker(w, WorkerRole.AGGREGATED, true);
        }
        return r;
    }

    private Router router(RouterConfig.PolicyKind kind, String... workers) {
        return router(kind, RouterConfig.defaults(), workers);
    }

    private static String pick(Router r, RouteRequest req) {
        Decision d = r.route(req);
        assertThat(d).as("%s", d).isInstanceOf(Decision.Routed.class);
        return ((Decision.Routed) d).workerId();
    }

    private static RouteRequest req(String id) {
        return RouteRequest.of(id, PROMPT, 64);
    }

    private static LoadReport usage(int active, int total) {
        return new LoadReport(total, active, 0, 0, 0, 0, 0, 0);
    }

    @Test
    void roundRobin_cyclesInRegistrationOrderAndSkipsBusy() {
        Router r = router(RouterConfig.PolicyKind.ROUND_ROBIN, RouterConfig.defaults().withBusy(0.9, Long.MAX_VALUE),
                "a", "b", "c");
        List<String> picks = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            picks.add(pick(r, req("r" + i)));
        }
        assertThat(picks).containsExactly("a", "b", "c", "a");
        r.onLoadReport("c", usage(95, 100));
        picks.clear();
        for (int i = 0; i < 4; i++) {
            picks.add(pick(r, req("s" + i)));
        }
        assertThat(picks).doesNotContain("c").contains("a", "b");
        assertThat(((Decision.Routed) r.route(req("x"))).policy()).isEqualTo("round-robin");
    }

    @Test
    void random_seeded_isReproducibleAndRoughlyUniform() {
        Router one = router(RouterConfig.PolicyKind.RANDOM, "a", "b", "c");
        Router two = router(RouterConfig.PolicyKind.RANDOM, "a", "b", "c");
        Map<String, Integer> counts = new HashMap<>();
        for (int i = 0; i < 3000; i++) {
            String p = pick(one, req("r" + i));
            assertThat(pick(two, req("r" + i))).isEqualTo(p);
            counts.merge(p, 1, Integer::sum);
        }
        for (String w : List.of("a", "b", "c")) {
            assertThat(counts.get(w) / 3000.0).as(w).isCloseTo(1 / 3.0, within(0.04));
        }
    }

    @Test
    void random_neverPicksBusy() {
        Router r = router(RouterConfig.PolicyKind.RANDOM, RouterConfig.defaults().withBusy(0.5, Long.MAX_VALUE),
                "a", "b", "c");
        r.onLoadReport("a", usage(60, 100));
        for (int i = 0; i < 200; i++) {
            assertThat(pick(r, req("r" + i))).isNotEqualTo("a");
        }
    }

    @Test
    void leastLoaded_activeBlocks_picksFewestAndIgnoresCache() {
        Router r = router(RouterConfig.PolicyKind.LEAST_LOADED, "a", "b", "c");
        r.onKvEvent("a", new KvEvent.Stored(0, false, 0, PROMPT, PROMPT.clone()));   // a caches everything
        r.onLoadReport("a", usage(10, 100));
        r.onLoadReport("b", usage(3, 100));
        r.onLoadReport("c", usage(7, 100));
        assertThat(pick(r, req("r1"))).isEqualTo("b");
        // r1 added 4 blocks to b (3 + 4 = 7, tied with c); the next pick is b or c, never a.
        assertThat(pick(r, req("r2"))).isIn("b", "c");
    }

    @Test
    void leastLoaded_inFlightRequests_countsOwnRequests() {
        Router r = router(RouterConfig.PolicyKind.LEAST_LOADED,
                RouterConfig.defaults().withLeastLoadedMetric(RouterConfig.LeastLoadedMetric.IN_FLIGHT_REQUESTS),
                "a", "b");
        r.onLoadReport("b", usage(90, 100));          // blocks do not matter for this metric
        Decision.Routed first = (Decision.Routed) r.route(req("r1"));
        Decision.Routed second = (Decision.Routed) r.route(req("r2"));
        assertThat(List.of(first.workerId(), second.workerId())).containsExactlyInAnyOrder("a", "b");
        r.finished(first);
        assertThat(pick(r, req("r3"))).as("the one with nothing in flight").isEqualTo(first.workerId());
    }

    @Test
    void sessionAffinity_sameSessionSameWorkerDespiteCacheAndLoad() {
        Router r = router(RouterConfig.PolicyKind.SESSION_AFFINITY, "a", "b", "c", "d");
        String home = pick(r, req("r0").withSessionKey("user-17"));
        for (String other : List.of("a", "b", "c", "d")) {
            if (!other.equals(home)) {
                r.onKvEvent(other, new KvEvent.Stored(0, false, 0, PROMPT, PROMPT.clone()));
            }
        }
        r.onLoadReport(home, usage(80, 100));
        for (int i = 1; i < 50; i++) {
            assertThat(pick(r, req("r" + i).withSessionKey("user-17"))).isEqualTo(home);
        }
    }

    @Test
    void sessionAffinity_workerLeaves_onlyItsSessionsMove() {
        Router r = router(RouterConfig.PolicyKind.SESSION_AFFINITY, "a", "b", "c", "d");
        Map<String, String> before = new HashMap<>();
        for (int s = 0; s < 400; s++) {
            before.put("s" + s, pick(r, req("r").withSessionKey("s" + s)));
        }
        Map<String, Long> perWorker = new HashMap<>();
        before.values().forEach(w -> perWorker.merge(w, 1L, Long::sum));
        assertThat(perWorker).as("sessions spread over all four").hasSize(4);
        perWorker.values().forEach(n -> assertThat(n).isBetween(50L, 160L));

        r.removeWorker("c");
        int moved = 0;
        for (int s = 0; s < 400; s++) {
            String now = pick(r, req("r").withSessionKey("s" + s));
            if (!before.get("s" + s).equals("c")) {
                assertThat(now).as("session s%d stays", s).isEqualTo(before.get("s" + s));
            } else {
                assertThat(now).isNotEqualTo("c");
                moved++;
            }
        }
        assertThat(moved).isEqualTo(perWorker.get("c").intValue());
    }

    @Test
    void sessionAffinity_busyHome_walksToNextOnRing() {
        Router r = router(RouterConfig.PolicyKind.SESSION_AFFINITY,
                RouterConfig.defaults().withBusy(0.9, Long.MAX_VALUE), "a", "b", "c");
        String home = pick(r, req("r").withSessionKey("k"));
        r.onLoadReport(home, usage(99, 100));
        String second = pick(r, req("r").withSessionKey("k"));
        assertThat(second).isNotEqualTo(home);
        assertThat(pick(r, req("r").withSessionKey("k"))).as("stable while busy").isEqualTo(second);
        r.onLoadReport(home, usage(10, 100));
        assertThat(pick(r, req("r").withSessionKey("k"))).as("back home").isEqualTo(home);
    }

    @Test
    void sessionAffinity_noSessionKey_fallsBackToKvCost() {
        Router r = router(RouterConfig.PolicyKind.SESSION_AFFINITY, "a", "b", "c");
        r.onKvEvent("b", new KvEvent.Stored(0, false, 0, PROMPT, PROMPT.clone()));
        assertThat(pick(r, req("r"))).isEqualTo("b");
    }

    @Test
    void targetWorker_anyPolicy_routesDirectly() {
        Router r = router(RouterConfig.PolicyKind.KV, "a", "b");
        r.onKvEvent("a", new KvEvent.Stored(0, false, 0, PROMPT, PROMPT.clone()));
        Decision.Routed d = (Decision.Routed) r.route(req("r").withTargetWorker("b"));
        assertThat(d.workerId()).isEqualTo("b");
        assertThat(d.policy()).isEqualTo("direct");
        assertThat(d.overlapBlocks()).as("b holds nothing").isZero();
    }

    @Test
    void targetWorker_unknownOrBusy_isRejected() {
        Router r = router(RouterConfig.PolicyKind.KV, RouterConfig.defaults().withBusy(0.5, Long.MAX_VALUE),
                "a", "b");
        assertThat(pick(r, req("r").withTargetWorker("a"))).isEqualTo("a");
        Decision unknown = r.route(req("r").withTargetWorker("zz"));
        assertThat(unknown).isInstanceOfSatisfying(Decision.Rejected.class, rej -> {
            assertThat(rej.reason()).isEqualTo(Decision.Reason.UNKNOWN_WORKER);
            assertThat(rej.message()).contains("zz");
        });
        r.onLoadReport("a", usage(70, 100));
        assertThat(r.route(req("r").withTargetWorker("a"))).isInstanceOfSatisfying(Decision.Rejected.class,
                rej -> assertThat(rej.reason()).isEqualTo(Decision.Reason.ALL_BUSY));
    }

    @Test
    void policyKind_parse_unknownNameListsChoices() {
        assertThat(RouterConfig.PolicyKind.parse(" Round-Robin ")).isEqualTo(RouterConfig.PolicyKind.ROUND_ROBIN);
        assertThatThrownBy(() -> RouterConfig.PolicyKind.parse("fastest")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("fastest").hasMessageContaining("session-affinity");
    }
}
