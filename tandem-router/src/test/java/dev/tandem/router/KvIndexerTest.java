package dev.tandem.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvSnapshot;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class KvIndexerTest {
    private final ManualClock clock = new ManualClock(1_000_000_000L);
    private final List<String> requests = new ArrayList<>();
    private final RouterConfig config = RouterConfig.defaults().withMaxWorkers(8).withMaxIndexedBlocks(100_000, 4)
            .withSnapshots(2_000, 4);
    private final KvIndexer indexer = new KvIndexer(config, requests::add, clock);

    private static KvEvent.Stored stored(long id, long... hashes) {
        return new KvEvent.Stored(id, false, 0, hashes, hashes.clone());
    }

    private Set<Long> held(String worker) {
        Set<Long> out = new HashSet<>();
        indexer.index().forEachHashOf(indexer.addWorker(worker, true), out::add);
        return out;
    }

    @Test
    void onEvent_inOrder_appliesStoredRemovedCleared() {
        indexer.addWorker("w", true);
        indexer.onEvent("w", stored(0, 1, 2, 3));
        indexer.onEvent("w", new KvEvent.Removed(1, new long[] {2}));
        assertThat(held("w")).containsExactlyInAnyOrder(1L, 3L);
        indexer.onEvent("w", new KvEvent.Cleared(2));
        assertThat(held("w")).isEmpty();
        assertThat(indexer.nextEventId("w")).isEqualTo(3);
        assertThat(requests).isEmpty();
        indexer.checkInvariants();
    }

    @Test
    void onEvent_duplicate_isIgnored() {
        indexer.addWorker("w", true);
        indexer.onEvent("w", stored(0, 1));
        indexer.onEvent("w", new KvEvent.Removed(1, new long[] {1}));
        indexer.onEvent("w", stored(0, 1));          // redelivered: must not resurrect block 1
        assertThat(held("w")).isEmpty();
        RouterStats.Builder b = new RouterStats.Builder();
        indexer.fillStats(b);
        assertThat(b.eventsDuplicate).isEqualTo(1);
    }

    @Test
    void onEvent_gap_requestsSnapshotAndBuffersUntilItArrives() {
        indexer.addWorker("w", true);
        int slot = indexer.addWorker("w", true);
        indexer.onEvent("w", stored(0, 1));
        indexer.onEvent("w", stored(2, 3));          // event 1 lost

        assertThat(requests).containsExactly("w");
        assertThat(indexer.isAwaitingSnapshot("w")).isTrue();
        assertThat(indexer.isApproximate(slot)).as("routed approximately meanwhile").isTrue();
        assertThat(held("w")).as("event 2 waits in the buffer").containsExactly(1L);
        indexer.onEvent("w", stored(3, 4));

        // The worker's state after event 2: blocks 1, 2 (from the lost event 1) and 3.
        indexer.onSnapshot("w", new KvSnapshot(2, new long[] {1, 2, 3}));

        assertThat(held("w")).as("snapshot, then buffered event 3").containsExactlyInAnyOrder(1L, 2L, 3L, 4L);
        assertThat(indexer.isAwaitingSnapshot("w")).isFalse();
        assertThat(indexer.isApproximate(slot)).isFalse();
        assertThat(indexer.nextEventId("w")).isEqualTo(4);
        indexer.onEvent("w", stored(4, 5));
        assertThat(held("w")).contains(5L);
        indexer.checkInvariants();
    }

    @Test
    void onEvent_firstEventNotZero_isAGap() {
        indexer.addWorker("late", true);
        indexer.onEvent("late", stored(41, 9));      // the router joined a running worker
        assertThat(requests).containsExactly("late");
        indexer.onSnapshot("late", new KvSnapshot(41, new long[] {7, 8, 9}));
        assertThat(held("late")).containsExactlyInAnyOrder(7L, 8L, 9L);
        assertThat(indexer.nextEventId("late")).isEqualTo(42);
    }

    @Test
    void onEvent_missingEventArrivesLate_resolvesGapWithoutSnapshot() {
        indexer.addWorker("w", true);
        indexer.onEvent("w", stored(0, 1));
        indexer.onEvent("w", stored(2, 3));
        indexer.onEvent("w", stored(1, 2));          // reordered, not lost
        assertThat(held("w")).containsExactlyInAnyOrder(1L, 2L, 3L);
        assertThat(indexer.isAwaitingSnapshot("w")).isFalse();
        // The snapshot requested meanwhile arrives and matches: applying it changes nothing.
        indexer.onSnapshot("w", new KvSnapshot(2, new long[] {1, 2, 3}));
        assertThat(held("w")).containsExactlyInAnyOrder(1L, 2L, 3L);
        indexer.checkInvariants();
    }

    @Test
    void onSnapshot_olderThanAppliedEvents_isIgnored() {
        indexer.addWorker("w", true);
        indexer.onEvent("w", stored(0, 1));
        indexer.onEvent("w", stored(1, 2));
        indexer.onSnapshot("w", new KvSnapshot(0, new long[] {1}));
        assertThat(held("w")).containsExactlyInAnyOrder(1L, 2L);
        RouterStats.Builder b = new RouterStats.Builder();
        indexer.fillStats(b);
        assertThat(b.snapshotsIgnored).isEqualTo(1);
    }

    @Test
    void onEvent_bufferOverflow_dropsOldestAndRequestsAgainAfterSnapshotWithHole() {
        indexer.addWorker("w", true);                // max 4 buffered events
        indexer.onEvent("w", stored(0, 1));
        for (long id = 2; id <= 7; id++) {           // event 1 lost; 2..7 arrive, 2 and 3 dropped
            indexer.onEvent("w", stored(id, 100 + id));
        }
        assertThat(requests).hasSize(1);
        // A snapshot taken back at event 1 cannot bridge to event 4: a hole of 2..3 remains.
        indexer.onSnapshot("w", new KvSnapshot(1, new long[] {1, 50}));
        assertThat(requests).as("a second request").hasSize(2);
        assertThat(indexer.isAwaitingSnapshot("w")).isTrue();
        indexer.onSnapshot("w", new KvSnapshot(7, new long[] {1, 50, 102, 103, 104, 105, 106, 107}));
        assertThat(indexer.isAwaitingSnapshot("w")).isFalse();
        assertThat(held("w")).hasSize(8);
        RouterStats.Builder b = new RouterStats.Builder();
        indexer.fillStats(b);
        assertThat(b.eventsDropped).isEqualTo(2);
        indexer.checkInvariants();
    }

    @Test
    void doWork_unansweredSnapshotRequest_isRepeatedAfterTimeout() {
        indexer.addWorker("w", true);
        indexer.onEvent("w", stored(1, 1));
        assertThat(requests).hasSize(1);
        clock.advanceMs(1_999);
        assertThat(indexer.doWork()).isZero();
        clock.advanceMs(1);
        assertThat(indexer.doWork()).isEqualTo(1);
        assertThat(requests).containsExactly("w", "w");
    }

    @Test
    void requester_throws_isContainedAndRetried() {
        List<String> calls = new ArrayList<>();
        KvIndexer failing = new KvIndexer(config, id -> {
            calls.add(id);
            throw new IllegalStateException("rpc down");
        }, clock);
        failing.addWorker("w", true);
        failing.onEvent("w", stored(3, 1));
        clock.advanceMs(2_000);
        failing.doWork();
        assertThat(calls).containsExactly("w", "w");
        assertThat(failing.isAwaitingSnapshot("w")).isTrue();
    }

    @Test
    void removeWorker_dropsItsBlocksAndFreesSlot() {
        int a = indexer.addWorker("a", true);
        indexer.addWorker("b", true);
        indexer.onEvent("a", stored(0, 1, 2));
        indexer.onEvent("b", stored(0, 1));
        indexer.removeWorker("a");
        assertThat(indexer.index().blocksOf(a)).isZero();
        assertThat(indexer.index().size()).isEqualTo(1);
        indexer.onEvent("a", stored(1, 3));          // late event of a departed worker
        assertThat(indexer.index().size()).isEqualTo(1);
        assertThat(indexer.addWorker("c", true)).as("slot reused").isEqualTo(a);
        assertThat(held("c")).isEmpty();
        indexer.checkInvariants();
    }

    @Test
    void addWorker_allSlotsTaken_failsWithConfigHint() {
        for (int i = 0; i < 8; i++) {
            indexer.addWorker("w" + i, true);
        }
        assertThatThrownBy(() -> indexer.addWorker("w8", true)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("max-workers");
    }

    @Test
    void resync_onJoin_replacesStaleBlocks() {
        indexer.addWorker("w", true);
        indexer.onEvent("w", stored(0, 1, 2));
        indexer.resync("w");
        assertThat(requests).containsExactly("w");
        indexer.onSnapshot("w", new KvSnapshot(0, new long[] {1, 2}));
        assertThat(indexer.isAwaitingSnapshot("w")).isFalse();
    }

    // ---------------------------------------------------------------- property test

    static Stream<Long> seeds() {
        return LongStream.range(0, 10).mapToObj(i -> 0xC0FFEEL * (i + 1));
    }

    /**
     * Workers change their caches at random; the channel to the router loses, repeats and
     * reorders events, and snapshot requests are answered late. Once the channel drains and a
     * final event reveals any trailing loss, the index must equal every worker's true cache.
     */
    @ParameterizedTest(name = "seed={0}")
    @MethodSource("seeds")
    void lossyEventStream_recoversToTruth(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        ArrayDeque<String> pendingRequests = new ArrayDeque<>();
        RouterConfig cfg = config.withSnapshots(1_000, 1 + rnd.nextInt(20));
        KvIndexer idx = new KvIndexer(cfg, pendingRequests::add, clock);
        Map<String, SimWorker> truth = new LinkedHashMap<>();
        for (int w = 0; w < 5; w++) {
            truth.put("w" + w, new SimWorker("w" + w));
            idx.addWorker("w" + w, true);
        }
        List<String> ids = new ArrayList<>(truth.keySet());
        List<Object[]> inFlight = new ArrayList<>();   // {workerId, event}
        long nextHash = 1;
        for (int step = 0; step < 1500; step++) {
            SimWorker w = truth.get(ids.get(rnd.nextInt(ids.size())));
            KvEvent e;
            int op = rnd.nextInt(100);
            if (op < 55) {
                long[] chain = new long[1 + rnd.nextInt(4)];
                for (int i = 0; i < chain.length; i++) {
                    chain[i] = rnd.nextInt(3) == 0 && nextHash > 10 ? 1 + rnd.nextLong(nextHash - 1) : nextHash++;
                }
                e = w.store(chain);
            } else if (op < 97) {
                long[] victims = w.held.stream().filter(h -> rnd.nextInt(4) == 0).mapToLong(Long::longValue).toArray();
                e = victims.length == 0 ? null : w.remove(victims);
            } else {
                e = w.clear();
            }
            if (e != null) {
                int fate = rnd.nextInt(100);
                if (fate < 6) {
                    continue;                                   // lost
                }
                inFlight.add(new Object[] {w.id, e});
                if (fate < 10) {
                    inFlight.add(new Object[] {w.id, e});       // repeated
                }
            }
            // Deliver some in-flight events; sometimes out of order.
            while (!inFlight.isEmpty() && rnd.nextInt(3) > 0) {
                int pick = rnd.nextInt(10) == 0 ? rnd.nextInt(inFlight.size()) : 0;
                Object[] m = inFlight.remove(pick);
                idx.onEvent((String) m[0], (KvEvent) m[1]);
            }
            // Answer a snapshot request late, with the worker's state at answer time.
            if (!pendingRequests.isEmpty() && rnd.nextInt(4) == 0) {
                String id = pendingRequests.poll();
                idx.onSnapshot(id, truth.get(id).snapshot());
            }
            if (rnd.nextInt(50) == 0) {
                clock.advanceMs(1_000);
                idx.doWork();
            }
            if (step % 300 == 0) {
                idx.checkInvariants();
            }
        }
        for (Object[] m : inFlight) {
            idx.onEvent((String) m[0], (KvEvent) m[1]);
        }
        for (SimWorker w : truth.values()) {
            idx.onEvent(w.id, w.store(new long[] {nextHash++}));  // reveals trailing losses
        }
        for (int round = 0; round < 10 && !pendingRequests.isEmpty(); round++) {
            String id = pendingRequests.poll();
            idx.onSnapshot(id, truth.get(id).snapshot());
        }
        assertThat(pendingRequests).as("seed %d: requests left", seed).isEmpty();
        idx.checkInvariants();
        for (SimWorker w : truth.values()) {
            assertThat(idx.isAwaitingSnapshot(w.id)).as("seed %d %s awaiting", seed, w.id).isFalse();
            Set<Long> actual = new HashSet<>();
            idx.index().forEachHashOf(idx.addWorker(w.id, true), actual::add);
            assertThat(actual).as("seed %d worker %s", seed, w.id).isEqualTo(w.held);
        }
    }
}
