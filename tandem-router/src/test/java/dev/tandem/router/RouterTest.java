package dev.tandem.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RequestException;
import dev.tandem.core.WorkerRole;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class RouterTest {
    private final ManualClock clock = new ManualClock(0);

    private Router router(RouterConfig base) {
        return Router.create(base.withMaxWorkers(16).withMaxIndexedBlocks(100_000, 4), id -> { }, clock,
                new Random(5));
    }

    private static LoadReport usage(int active, int total) {
        return new LoadReport(total, active, 0, 0, 0, 0, 0, 0);
    }

    private static long[] blocks(long from, int n) {
        return LongStream.range(from, from + n).toArray();
    }

    @Test
    void route_busyByKvUsage_skipsWorkerEvenIfCached() {
        Router r = router(RouterConfig.defaults().withBusy(0.8, Long.MAX_VALUE));
        r.addWorker("a", WorkerRole.AGGREGATED, true);
        r.addWorker("b", WorkerRole.AGGREGATED, true);
        long[] prompt = blocks(1, 4);
        r.onKvEvent("a", new KvEvent.Stored(0, false, 0, prompt, prompt.clone()));
        r.onLoadReport("a", usage(85, 100));
        Decision.Routed d = (Decision.Routed) r.route(RouteRequest.of("r1", prompt, 64));
        assertThat(d.workerId()).isEqualTo("b");

        r.onLoadReport("b", usage(80, 100));                 // the threshold itself counts as busy
        Decision all = r.route(RouteRequest.of("r2", prompt, 64));
        assertThat(all).isInstanceOfSatisfying(Decision.Rejected.class, rej -> {
            assertThat(rej.reason()).isEqualTo(Decision.Reason.ALL_BUSY);
            assertThat(rej.message()).contains("r2").contains("all 2");
        });
        assertThat(r.stats().rejectedBusy()).isEqualTo(1);
    }

    @Test
    void route_busyByQueuedPrefill_countsRoutersOwnRequestsUntilPrefillDone() {
        // Threshold 100 tokens; each request has 128 uncached tokens.
        Router r = router(RouterConfig.defaults().withBusy(Double.POSITIVE_INFINITY, 100));
        r.addWorker("a", WorkerRole.AGGREGATED, true);
        r.addWorker("b", WorkerRole.AGGREGATED, true);
        Decision.Routed first = (Decision.Routed) r.route(RouteRequest.of("r1", blocks(1, 8), 128));
        Decision.Routed second = (Decision.Routed) r.route(RouteRequest.of("r2", blocks(100, 8), 128));
        assertThat(second.workerId()).isNotEqualTo(first.workerId());
        assertThat(r.route(RouteRequest.of("r3", blocks(200, 8), 128))).isInstanceOf(Decision.Rejected.class);
        r.prefillDone(first);
        Decision.Routed third = (Decision.Routed) r.route(RouteRequest.of("r4", blocks(300, 8), 128));
        assertThat(third.workerId()).isEqualTo(first.workerId());
    }

    @Test
    void route_busyByOwnRequests_withoutAnyNewReport() {
        // 10-block pool, busy at 50%: one request of 6 blocks (96 tokens) makes a worker busy.
        Router r = router(RouterConfig.defaults().withBusy(0.5, Long.MAX_VALUE));
        r.addWorker("a", WorkerRole.AGGREGATED, true);
        r.onLoadReport("a", usage(0, 10));
        Decision.Routed d = (Decision.Routed) r.route(RouteRequest.of("r1", blocks(1, 6), 96));
        assertThat(r.route(RouteRequest.of("r2", blocks(1, 6), 96))).isInstanceOf(Decision.Rejected.class);
        r.finished(d);
        assertThat(r.route(RouteRequest.of("r3", blocks(1, 6), 96))).isInstanceOf(Decision.Routed.class);
    }

    @Test
    void route_pools_chooseWithinRequestedRole() {
        Router r = router(RouterConfig.defaults());
        r.addWorker("p1", WorkerRole.PREFILL, true);
        r.addWorker("p2", WorkerRole.PREFILL, true);
        r.addWorker("d1", WorkerRole.DECODE, true);
        long[] prompt = blocks(1, 4);
        r.onKvEvent("d1", new KvEvent.Stored(0, false, 0, prompt, prompt.clone()));
        RouteRequest req = RouteRequest.of("r", prompt, 64);
        for (int i = 0; i < 6; i++) {
            Decision.Routed p = (Decision.Routed) r.route(req.withPool(WorkerRole.PREFILL));
            assertThat(p.workerId()).startsWith("p");
            assertThat(p.role()).isEqualTo(WorkerRole.PREFILL);
        }
        Decision.Routed d = (Decision.Routed) r.route(req.withPool(WorkerRole.DECODE));
        assertThat(d.workerId()).isEqualTo("d1");
        assertThat(d.overlapBlocks()).isEqualTo(4);
        assertThat(r.route(req)).isInstanceOfSatisfying(Decision.Rejected.class,
                rej -> assertThat(rej.reason()).isEqualTo(Decision.Reason.NO_WORKERS));
    }

    @Test
    void route_noWorkers_isRejectedNotThrown() {
        Router r = router(RouterConfig.defaults());
        assertThat(r.route(RouteRequest.of("r", new long[0], 1))).isInstanceOfSatisfying(Decision.Rejected.class,
                rej -> assertThat(rej.message()).contains("no AGGREGATED worker"));
        assertThat(r.stats().rejectedNoWorker()).isEqualTo(1);
    }

    @Test
    void route_moreBlocksThanTokens_isInvalidRequest() {
        Router r = router(RouterConfig.defaults());
        r.addWorker("a", WorkerRole.AGGREGATED, true);
        assertThatThrownBy(() -> r.route(RouteRequest.of("bad", blocks(1, 4), 50)))
                .isInstanceOfSatisfying(RequestException.class, e -> {
                    assertThat(e.kind()).isEqualTo(RequestException.Kind.INVALID);
                    assertThat(e.getMessage()).contains("bad").contains("64").contains("50");
                });
        assertThatThrownBy(() -> RouteRequest.of("w", new long[0], 1).withOverlapWeight(-1.0))
                .isInstanceOf(RequestException.class).hasMessageContaining("overlap weight");
        assertThatThrownBy(() -> RouteRequest.of("t", new long[0], 1).withTemperature(Double.NaN))
                .isInstanceOf(RequestException.class).hasMessageContaining("temperature");
    }

    @Test
    void preview_changesNoState() {
        Router r = router(RouterConfig.defaults());
        r.addWorker("a", WorkerRole.AGGREGATED, false);
        Decision.Routed d = (Decision.Routed) r.preview(RouteRequest.of("r", blocks(1, 4), 64));
        assertThat(d.tracked()).isFalse();
        r.finished(d);                                       // a no-op for untracked decisions
        assertThat(r.workers().getFirst().inFlightRequests()).isZero();
        assertThat(r.workers().getFirst().activeBlocks()).isZero();
        assertThat(r.stats().approximateBlocks()).as("previews are not recorded").isZero();
    }

    @Test
    void removeWorker_isNeverChosenAgainAndItsBlocksGo() {
        Router r = router(RouterConfig.defaults());
        r.addWorker("a", WorkerRole.AGGREGATED, true);
        r.addWorker("b", WorkerRole.AGGREGATED, true);
        long[] prompt = blocks(1, 8);
        r.onKvEvent("a", new KvEvent.Stored(0, false, 0, prompt, prompt.clone()));
        assertThat(((Decision.Routed) r.preview(RouteRequest.of("r", prompt, 128))).workerId()).isEqualTo("a");
        r.removeWorker("a");
        assertThat(r.stats().indexedBlocks()).isZero();
        for (int i = 0; i < 5; i++) {
            assertThat(((Decision.Routed) r.route(RouteRequest.of("r" + i, prompt, 128))).workerId()).isEqualTo("b");
        }
        assertThat(r.hasWorker("a")).isFalse();
        r.checkInvariants();
    }

    @Test
    void addWorker_sameIdOtherRole_isRefused() {
        Router r = router(RouterConfig.defaults());
        r.addWorker("a", WorkerRole.PREFILL, true);
        r.addWorker("a", WorkerRole.PREFILL, true);          // idempotent
        assertThatThrownBy(() -> r.addWorker("a", WorkerRole.DECODE, true)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("PREFILL").hasMessageContaining("DECODE");
    }

    @Test
    void config_outOfRange_namesTheKey() {
        assertThatThrownBy(() -> RouterConfig.defaults().withCost(-1, 0)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("tandem.router.overlap-weight");
        assertThatThrownBy(() -> RouterConfig.defaults().withBusy(0, 5)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("busy-kv-usage");
        assertThatThrownBy(() -> RouterConfig.defaults().withMaxIndexedBlocks(1000, 3))
                .isInstanceOf(ConfigException.class).hasMessageContaining("index-shards");
    }

    /**
     * Four simulated workers that store every prompt they serve and publish the events: eight
     * conversations arriving together spread two per worker; each conversation's later turns
     * go back to the worker that holds it, with the predicted overlap equal to the blocks the
     * worker really had; a burst sharing one prefix spills to other workers as load builds.
     */
    @Test
    void endToEnd_fourWorkers_prefixesStickAndLoadSpreads() {
        Router r = router(RouterConfig.defaults());
        Map<String, SimWorker> sims = new LinkedHashMap<>();
        for (int w = 0; w < 4; w++) {
            sims.put("w" + w, new SimWorker("w" + w));
            r.addWorker("w" + w, WorkerRole.AGGREGATED, true);
        }
        List<long[]> conversations = new ArrayList<>();
        for (int c = 0; c < 8; c++) {
            conversations.add(blocks(1_000_000L * (c + 1), 64));   // 64 blocks = 1,024 tokens each
        }

        // Phase 1: eight first turns in flight together (32 blocks each).
        Map<Integer, String> home = new HashMap<>();
        List<Decision.Routed> inFlight = new ArrayList<>();
        for (int c = 0; c < 8; c++) {
            long[] prompt = java.util.Arrays.copyOf(conversations.get(c), 32);
            Decision.Routed d = serve(r, sims, "c" + c + "t0", prompt);
            home.put(c, d.workerId());
            inFlight.add(d);
        }
        Map<String, Long> perWorker = new HashMap<>();
        home.values().forEach(w -> perWorker.merge(w, 1L, Long::sum));
        assertThat(perWorker).as("two conversations per worker").containsOnlyKeys("w0", "w1", "w2", "w3")
                .allSatisfy((w, n) -> assertThat(n).isEqualTo(2));
        inFlight.forEach(r::finished);

        // Phase 2: later turns, one at a time, each two blocks longer: back to the holder.
        for (int turn = 1; turn <= 5; turn++) {
            for (int c = 0; c < 8; c++) {
                long[] prompt = java.util.Arrays.copyOf(conversations.get(c), 32 + 2 * turn);
                Decision.Routed d = serve(r, sims, "c" + c + "t" + turn, prompt);
                assertThat(d.workerId()).as("conversation %d turn %d", c, turn).isEqualTo(home.get(c));
                assertThat(d.overlapBlocks()).isEqualTo(32 + 2 * (turn - 1));
                r.finished(d);
            }
        }

        // Phase 3: twelve requests sharing conversation 0's prefix arrive together.
        List<String> burst = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            long[] prompt = java.util.Arrays.copyOf(conversations.get(0), 48);
            burst.add(serve(r, sims, "burst" + i, prompt).workerId());
        }
        assertThat(burst.getFirst()).isEqualTo(home.get(0));
        assertThat(burst.stream().distinct().count()).as("load spills the burst over workers").isGreaterThan(1);
        r.checkInvariants();
    }

    /** Routes a request, lets the chosen worker serve it (storing its blocks) and checks the prediction. */
    private static Decision.Routed serve(Router r, Map<String, SimWorker> sims, String id, long[] prompt) {
        Decision d = r.route(RouteRequest.of(id, prompt, prompt.length * 16));
        assertThat(d).as(id).isInstanceOf(Decision.Routed.class);
        Decision.Routed routed = (Decision.Routed) d;
        SimWorker w = sims.get(routed.workerId());
        int actualCachedBlocks = w.depth(prompt);
        assertThat(routed.overlapBlocks()).as("%s predicted vs actual cached blocks", id).isEqualTo(actualCachedBlocks);
        KvEvent.Stored e = w.store(prompt);
        if (e != null) {
            r.onKvEvent(w.id, e);
        }
        r.prefillDone(routed);
        return routed;
    }

    @Test
    @Timeout(30)
    void concurrentRoutingAndEvents_keepCountsConsistent() throws Exception {
        Router r = router(RouterConfig.defaults());
        for (int w = 0; w < 8; w++) {
            r.addWorker("w" + w, WorkerRole.AGGREGATED, w % 2 == 0);
        }
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            long seed = t;
            threads.add(Thread.ofPlatform().start(() -> {
                SplittableRandom rnd = new SplittableRandom(seed);
                try {
                    for (int i = 0; i < 3000; i++) {
                        long[] prompt = blocks(rnd.nextInt(50) * 1000L, 1 + rnd.nextInt(20));
                        Decision d = r.route(RouteRequest.of("t" + seed + "r" + i, prompt, prompt.length * 16));
                        if (d instanceof Decision.Routed routed) {
                            r.prefillDone(routed);
                            r.finished(routed);
                        }
                    }
                } catch (Throwable e) {
                    failure.set(e);
                }
            }));
        }
        threads.add(Thread.ofPlatform().start(() -> {
            SimWorker[] sims = new SimWorker[8];
            for (int w = 0; w < 8; w += 2) {
                sims[w] = new SimWorker("w" + w);
            }
            SplittableRandom rnd = new SplittableRandom(77);
            try {
                for (int i = 0; i < 6000; i++) {
                    SimWorker s = sims[2 * rnd.nextInt(4)];
                    KvEvent e = rnd.nextInt(3) > 0 ? s.store(blocks(rnd.nextInt(50) * 1000L, 1 + rnd.nextInt(20)))
                            : s.remove(blocks(rnd.nextInt(50) * 1000L, 20));
                    if (e != null) {
                        r.onKvEvent(s.id, e);
                    }
                }
            } catch (Throwable e) {
                failure.set(e);
            }
        }));
        for (Thread t : threads) {
            t.join();
        }
        assertThat(failure.get()).isNull();
        r.checkInvariants();
        for (Router.WorkerStatus s : r.workers()) {
            assertThat(s.inFlightRequests()).as(s.workerId()).isZero();
            assertThat(s.activeBlocks()).as(s.workerId()).isZero();
            assertThat(s.queuedPrefillTokens()).as(s.workerId()).isZero();
        }
        assertThat(r.stats().routed()).isEqualTo(6000);
    }
}
