package dev.tandem.runtime.kvevents;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.ConfigException;
import dev.tandem.core.KvEvent;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/** The subscriber against vLLM's exact messages, sent by a Python publisher (pyzmq) or a JeroMQ PUB. */
@Timeout(60)
class VllmKvEventSubscriberTest {
    private static final int BLOCK = 16;
    private static final Duration WAIT = Duration.ofSeconds(15);
    /** 6 blocks of 16 tokens; the engine's hashes of block i are 1000 + i. */
    private static final int[] TOKENS = IntStream.range(0, 6 * BLOCK).map(i -> 7 * i % 50).toArray();
    private static final long[] EXPECTED = BlockHasher.sequenceHashes(TOKENS, BLOCK);

    private VllmPublisherProcess publisher;
    private final List<KvEvent> events = new CopyOnWriteArrayList<>();

    @BeforeEach
    void startPublisher() throws Exception {
        publisher = new VllmPublisherProcess();
    }

    @AfterEach
    void stopPublisher() {
        if (publisher != null) {
            publisher.close();
        }
    }

    private VllmKvEventSubscriber subscribe(boolean withReplay) {
        KvEventTranslator translator = new KvEventTranslator("w", BLOCK, 10_000);
        translator.subscribe(events::add);
        return new VllmKvEventSubscriber("w", VllmKvEventSubscriber.Config.of(publisher.endpoint(),
                withReplay ? publisher.replayEndpoint() : null), translator).start();
    }

    /** Waits until the SUB socket receives (ZeroMQ drops what a PUB sends before a subscription arrives). */
    private void awaitSubscribed(VllmKvEventSubscriber sub) {
        await().atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() -> {
            publisher.raw("warm-up".getBytes(StandardCharsets.UTF_8));
            return sub.stats().malformedMessages() > 0;
        });
    }

    private static long[] engineHashes(int from, int to) {
        return LongRangeOf(1000 + from, 1000 + to);
    }

    private static long[] LongRangeOf(long from, long to) {
        return java.util.stream.LongStream.range(from, to).toArray();
    }

    private static int[] tokens(int fromBlock, int toBlock) {
        return Arrays.copyOfRange(TOKENS, fromBlock * BLOCK, toBlock * BLOCK);
    }

    private static Long parentOf(int block) {
        return block == 0 ? null : 1000L + block - 1;
    }

    private long store(String encoding, String hashes, boolean publish, int from, int to) {
        return publisher.batch(encoding, hashes, publish, List.of(
                VllmPublisherProcess.stored(engineHashes(from, to), parentOf(from), tokens(from, to), BLOCK)));
    }

    private void awaitSnapshot(VllmKvEventSubscriber sub, long... hashes) {
        await().atMost(WAIT).untilAsserted(() ->
                assertThat(sub.translator().kvSnapshot().sequenceHashes()).containsExactlyInAnyOrder(hashes));
    }

    @Test
    void subscribe_bothEncodingsAndHashForms_announceTandemsHashesOfTheTokens() {
        for (String hashes : new String[] {"int", "bytes"}) {
            events.clear();
            publisher.restart();
            try (VllmKvEventSubscriber sub = subscribe(true)) {
                awaitSubscribed(sub);
                store("array", hashes, true, 0, 2);
                store("map", hashes, true, 2, 4);
                publisher.batch("map", hashes, true, List.of(VllmPublisherProcess.removed(1003)));

                awaitSnapshot(sub, EXPECTED[0], EXPECTED[1], EXPECTED[2]);
                assertThat(events).extracting(KvEvent::eventId).containsExactly(0L, 1L, 2L);
                assertThat(events.get(2)).isEqualTo(new KvEvent.Removed(2, new long[] {EXPECTED[3]}));
                assertThat(sub.stats().batchesApplied()).isEqualTo(3);
                assertThat(sub.stats().gaps()).isZero();
            }
        }
    }

    @Test
    void start_deliversTranslatedEventsToTheListener() {
        try (VllmKvEventSubscriber sub = VllmKvEventSubscriber.start("w", VllmKvEventSubscriber.Config.of(
                publisher.endpoint(), publisher.replayEndpoint()), BLOCK, events::add)) {
            awaitSubscribed(sub);
            store("map", "int", true, 0, 2);

            await().atMost(WAIT).until(() -> events.size() == 1);
            assertThat(((KvEvent.Stored) events.getFirst()).sequenceHashes()).containsExactly(EXPECTED[0], EXPECTED[1]);
        }
    }

    @Test
    void subscribe_gap_filledByReplayWithoutClearing() {
        try (VllmKvEventSubscriber sub = subscribe(true)) {
            awaitSubscribed(sub);
            store("array", "int", true, 0, 2);
            store("array", "int", false, 2, 3);    // buffered for replays only: the subscriber misses it
            store("map", "int", true, 3, 5);

            awaitSnapshot(sub, Arrays.copyOf(EXPECTED, 5));
            assertThat(events).noneMatch(e -> e instanceof KvEvent.Cleared);
            assertThat(sub.stats().gaps()).isEqualTo(1);
            assertThat(sub.stats().replaysIncomplete()).isZero();
        }
    }

    @Test
    void subscribe_gapThePublisherNoLongerBuffers_clearsAndRelearns() {
        try (VllmKvEventSubscriber sub = subscribe(true)) {
            awaitSubscribed(sub);
            store("array", "int", true, 0, 2);
            store("array", "int", false, 2, 3);
            publisher.forget(2);                   // the replay buffer no longer reaches back to seq 1
            store("array", "int", true, 3, 4);     // its parent (seq 1) is unknown: an orphan
            publisher.batch("array", "int", true, List.of(VllmPublisherProcess.stored(
                    new long[] {2000}, null, tokens(0, 1), BLOCK)));

            await().atMost(WAIT).until(() -> events.size() >= 3);
            assertThat(events).extracting(e -> e.getClass().getSimpleName())
                    .containsExactly("Stored", "Cleared", "Stored");
            assertThat(sub.translator().kvSnapshot().sequenceHashes()).containsExactly(EXPECTED[0]);
            assertThat(sub.stats().replaysIncomplete()).isEqualTo(1);
            assertThat(sub.translator().stats().orphanBlocks()).isEqualTo(1);
        }
    }

    @Test
    void subscribe_withoutReplaySocket_aGapClears() {
        try (VllmKvEventSubscriber sub = subscribe(false)) {
            awaitSubscribed(sub);
            store("array", "int", true, 0, 2);
            store("array", "int", false, 2, 3);
            store("array", "int", true, 3, 4);

            await().atMost(WAIT).until(() -> sub.stats().gaps() == 1);
            assertThat(events).extracting(e -> e.getClass().getSimpleName()).containsExactly("Stored", "Cleared");
            assertThat(sub.stats().replays()).isZero();
        }
    }

    @Test
    void subscribe_malformedMessages_countedAndDroppedAndTheStreamGoesOn() {
        try (VllmKvEventSubscriber sub = subscribe(true)) {
            awaitSubscribed(sub);
            long malformedBefore = sub.stats().malformedMessages();
            store("array", "int", true, 0, 1);
            publisher.raw(new byte[0], new byte[] {0, 0, 0, 1}, new byte[] {(byte) 0x90});   // seq of 4 bytes
            publisher.raw(new byte[0], ByteBuffer.allocate(8).putLong(-5).array(), new byte[] {(byte) 0x90});
            publisher.payload(new byte[] {(byte) 0xc1, 1, 2}, true);                          // not MessagePack
            store("array", "int", true, 1, 2);       // its parent's hash still resolves after the clear

            awaitSnapshot(sub, EXPECTED[1]);
            // at least the two bad messages (a warm-up message still in flight may add one)
            assertThat(sub.stats().malformedMessages() - malformedBefore).isBetween(2L, 3L);
            assertThat(sub.stats().undecodableBatches()).isEqualTo(1);
            PrometheusRegistry registry = new PrometheusRegistry();
            sub.registerMetrics(registry);
            assertThat(counter(registry, "tandem_kv_events_messages", "undecodable")).isEqualTo(1.0);
            assertThat(counter(registry, "tandem_kv_events_messages", "applied")).isEqualTo(2.0);
            assertThat(events).extracting(e -> e.getClass().getSimpleName())
                    .containsExactly("Stored", "Cleared", "Stored");
        }
    }

    @Test
    void subscribe_publisherRestarts_clearsAndFollowsTheNewNumbering() {
        try (VllmKvEventSubscriber sub = subscribe(true)) {
            awaitSubscribed(sub);
            store("array", "int", true, 0, 2);
            store("array", "int", true, 2, 3);
            await().atMost(WAIT).until(() -> events.size() == 2);

            publisher.restart();
            store("map", "int", true, 0, 1);   // seq 0 again

            awaitSnapshot(sub, EXPECTED[0]);
            assertThat(sub.stats().restarts()).isEqualTo(1);
            assertThat(events).extracting(e -> e.getClass().getSimpleName())
                    .containsExactly("Stored", "Stored", "Cleared", "Stored");
        }
    }

    @Test
    void subscribe_joiningARunningPublisher_replaysItsBufferedHistory() {
        store("array", "int", false, 0, 2);   // before the subscriber exists
        store("array", "int", false, 2, 3);
        try (VllmKvEventSubscriber sub = subscribe(true)) {
            awaitSubscribed(sub);
            store("array", "int", true, 3, 4);

            awaitSnapshot(sub, Arrays.copyOf(EXPECTED, 4));
            assertThat(events).noneMatch(e -> e instanceof KvEvent.Cleared);
            assertThat(sub.stats().gaps()).isZero();
            assertThat(sub.stats().replays()).isEqualTo(1);
        }
    }

    @Test
    void subscribe_jeromqPublisherWithVllmsBlockSize16_indexedAt16() {
        publisher.close();
        publisher = null;
        KvEventTranslator translator = new KvEventTranslator("w", BLOCK, 10_000);
        translator.subscribe(events::add);
        try (ZContext context = new ZContext()) {
            ZMQ.Socket pub = context.createSocket(SocketType.PUB);
            pub.setLinger(0);
            int port = pub.bindToRandomPort("tcp://127.0.0.1");
            try (VllmKvEventSubscriber sub = new VllmKvEventSubscriber("w", VllmKvEventSubscriber.Config.of(
                    "tcp://127.0.0.1:" + port, null), translator).start()) {
                await().atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() -> {
                    pub.send("warm-up");
                    return sub.stats().malformedMessages() > 0;
                });
                byte[] payload = VllmPayloads.map().stored(engineHashes(0, 3), null, tokens(0, 3), BLOCK).build(0);
                pub.sendMore(new byte[0]);
                pub.sendMore(VllmEventFrame.seqFrame(0));
                pub.send(payload);

                awaitSnapshot(sub, EXPECTED[0], EXPECTED[1], EXPECTED[2]);
                assertThat(events).singleElement().isInstanceOfSatisfying(KvEvent.Stored.class,
                        s -> assertThat(s.sequenceHashes()).containsExactly(BlockHasher.sequenceHashes(tokens(0, 3), 16)));
            }
        }
    }

    private static double counter(PrometheusRegistry registry, String name, String outcome) {
        for (MetricSnapshot m : registry.scrape()) {
            if (m.getMetadata().getName().equals(name)) {
                for (CounterSnapshot.CounterDataPointSnapshot p : ((CounterSnapshot) m).getDataPoints()) {
                    if (outcome.equals(p.getLabels().get("outcome"))) {
                        return p.getValue();
                    }
                }
            }
        }
        throw new AssertionError("no " + name + "{outcome=" + outcome + "}");
    }

    @Test
    void subscribe_replaySocketThatNeverAnswers_clearsAfterTheDeadlineAndGoesOn() {
        publisher.close();
        publisher = null;
        KvEventTranslator translator = new KvEventTranslator("w", BLOCK, 10_000);
        translator.subscribe(events::add);
        try (ZContext context = new ZContext()) {
            ZMQ.Socket pub = context.createSocket(SocketType.PUB);
            pub.setLinger(0);
            int port = pub.bindToRandomPort("tcp://127.0.0.1");
            ZMQ.Socket silent = context.createSocket(SocketType.ROUTER);   // takes requests, never answers
            silent.setLinger(0);
            int replayPort = silent.bindToRandomPort("tcp://127.0.0.1");
            try (VllmKvEventSubscriber sub = new VllmKvEventSubscriber("w", new VllmKvEventSubscriber.Config(
                    "tcp://127.0.0.1:" + port, "tcp://127.0.0.1:" + replayPort, "", 50, 400), translator).start()) {
                await().atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() -> {
                    pub.send("warm-up");
                    return sub.stats().malformedMessages() > 0;
                });
                send(pub, 0, VllmPayloads.array().stored(engineHashes(0, 1), null, tokens(0, 1), BLOCK).build());
                send(pub, 2, VllmPayloads.array().stored(engineHashes(2, 3), 1001L, tokens(2, 3), BLOCK).build());
                send(pub, 3, VllmPayloads.array().stored(new long[] {3000}, null, tokens(0, 1), BLOCK).build());

                await().atMost(WAIT).until(() -> events.size() == 3);
                assertThat(events).extracting(e -> e.getClass().getSimpleName())
                        .containsExactly("Stored", "Cleared", "Stored");
                assertThat(sub.stats().replaysIncomplete()).isEqualTo(1);
                assertThat(sub.translator().kvSnapshot().sequenceHashes()).containsExactly(EXPECTED[0]);
            }
        }
    }

    @Test
    void close_withNoPublisherThere_stopsTheThread() {
        publisher.close();
        publisher = null;
        VllmKvEventSubscriber sub = new VllmKvEventSubscriber("w", VllmKvEventSubscriber.Config.of(
                "tcp://127.0.0.1:1", "tcp://127.0.0.1:2"), new KvEventTranslator("w", BLOCK, 10)).start();

        sub.close();

        assertThat(sub.isAlive()).isFalse();
        sub.close();   // idempotent
    }

    private static void send(ZMQ.Socket pub, long seq, byte[] payload) {
        pub.sendMore(new byte[0]);
        pub.sendMore(VllmEventFrame.seqFrame(seq));
        pub.send(payload);
    }

    @Test
    void config_badEndpointsAndTimeouts_rejectedWithTheValue() {
        assertThatThrownBy(() -> VllmKvEventSubscriber.Config.of("http://h:1", null))
                .isInstanceOf(ConfigException.class).hasMessageContaining("'http://h:1' must be tcp://HOST:PORT");
        assertThatThrownBy(() -> VllmKvEventSubscriber.Config.of("tcp://h", null))
                .isInstanceOf(ConfigException.class).hasMessageContaining("tcp://h");
        assertThatThrownBy(() -> VllmKvEventSubscriber.Config.of("tcp://h:1", "tcp://h:x"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("replay endpoint");
        assertThatThrownBy(() -> new VllmKvEventSubscriber.Config("tcp://h:1", null, "", 0, 10))
                .isInstanceOf(ConfigException.class).hasMessageContaining("got 0");
    }
}
