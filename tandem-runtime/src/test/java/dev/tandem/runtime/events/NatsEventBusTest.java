package dev.tandem.runtime.events;

import static dev.tandem.runtime.events.RecordingEvents.range;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.core.TandemException;
import dev.tandem.runtime.ExternalProcess;
import dev.tandem.runtime.NatsProcess;
import dev.tandem.runtime.RuntimeConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Against a real nats-server on a free loopback port. */
@Timeout(60)
class NatsEventBusTest {
    private static final AtomicInteger NS = new AtomicInteger();
    private static NatsProcess nats;

    @BeforeAll
    static void startNats() {
        nats = NatsProcess.started();
    }

    @AfterAll
    static void stopNats() {
        if (nats != null) {
            nats.close();
        }
    }

    private static RuntimeConfig config() {
        return RuntimeConfig.defaults().withNamespace("n" + NS.incrementAndGet()).withEvents(50, 5, 10_000);
    }

    @Test
    void publish_wildcardSubscriber_receivesInOrder() {
        RuntimeConfig cfg = config();
        try (NatsEventBus a = NatsEventBus.connect(nats.url(), "a", cfg);
             NatsEventBus b = NatsEventBus.connect(nats.url(), "b", cfg)) {
            List<String> got = new CopyOnWriteArrayList<>();
            b.subscribe("tandem." + cfg.namespace() + ".kv.*", (s, p) -> got.add(Subjects.lastToken(s) + p[0]));
            b.flush(Duration.ofSeconds(2));
            for (int i = 0; i < 50; i++) {
                assertThat(a.publish(Subjects.kv(cfg.namespace(), "w" + (i % 2)), new byte[] {(byte) i})).isTrue();
            }
            a.publish(Subjects.load(cfg.namespace(), "w0"), new byte[] {0});
            await().atMost(5, TimeUnit.SECONDS).until(() -> got.size() == 50);
            for (int i = 0; i < 50; i++) {
                assertThat(got.get(i)).isEqualTo("w" + (i % 2) + i);
            }
        }
    }

    @Test
    void workerPublishers_toSubscriber_endToEnd() {
        RuntimeConfig cfg = config().withLoadReportIntervalMs(20);
        LoadReport report = new LoadReport(64, 3, 1, 1, 0, 16, 100, 40);
        try (NatsEventBus worker = NatsEventBus.connect(nats.url(), "worker", cfg);
             NatsEventBus frontend = NatsEventBus.connect(nats.url(), "frontend", cfg)) {
            RecordingEvents seen = new RecordingEvents();
            try (var _ = new WorkerEventSubscriber(frontend, cfg.namespace(), seen);
                 KvEventPublisher kv = new KvEventPublisher(worker, "w1", cfg);
                 LoadPublisher _ = new LoadPublisher(worker, "w1", () -> report, cfg)) {
                frontend.flush(Duration.ofSeconds(2));
                for (int i = 0; i < 500; i++) {
                    kv.onKvEvent(new KvEvent.Removed(i, new long[] {i}));
                }
                await().atMost(5, TimeUnit.SECONDS).until(() -> seen.eventIds().size() == 500);
                assertThat(seen.eventIds()).isEqualTo(range(0, 500));
                await().atMost(5, TimeUnit.SECONDS).until(() -> report.equals(seen.loads.get("w1")));
            }
        }
    }

    @Test
    void serverRestart_eventsDroppedWhileDown_gapThenResume() {
        RuntimeConfig cfg = config();
        try (NatsEventBus worker = NatsEventBus.connect(nats.url(), "worker", cfg);
             NatsEventBus frontend = NatsEventBus.connect(nats.url(), "frontend", cfg)) {
            RecordingEvents seen = new RecordingEvents();
            try (var _ = new WorkerEventSubscriber(frontend, cfg.namespace(), seen);
                 KvEventPublisher pub = new KvEventPublisher(worker, "w1", cfg)) {
                frontend.flush(Duration.ofSeconds(2));
                for (int i = 0; i < 10; i++) {
                    pub.onKvEvent(new KvEvent.Cleared(i));
                }
                await().atMost(5, TimeUnit.SECONDS).until(() -> seen.eventIds().size() == 10);

                nats.kill();
                await().atMost(10, TimeUnit.SECONDS).until(() -> !worker.isConnected() && !frontend.isConnected());
                for (int i = 10; i < 20; i++) {
                    pub.onKvEvent(new KvEvent.Cleared(i));
                }
                await().atMost(5, TimeUnit.SECONDS).until(() -> pub.droppedEvents() == 10);

                nats.start();
                await().atMost(15, TimeUnit.SECONDS).until(() -> worker.isConnected() && frontend.isConnected());
                // The subscription is restored right after the reconnect; publish until it is.
                long next = 20;
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (seen.eventIds().size() == 10 && System.nanoTime() < deadline) {
                    pub.onKvEvent(new KvEvent.Cleared(next++));
                    sleep(50);
                }
                List<Long> ids = seen.eventIds();
                assertThat(ids.subList(0, 10)).isEqualTo(range(0, 10));
                assertThat(ids.size()).as("events after the restart arrive").isGreaterThan(10);
                assertThat(ids.get(10)).as("numbering continued across the outage: a gap").isGreaterThanOrEqualTo(20);
                List<Long> tail = new ArrayList<>(ids.subList(10, ids.size()));
                assertThat(tail).isSorted().doesNotHaveDuplicates();
            }
        }
    }

    @Test
    void connect_nothingListening_clearErrorQuickly() {
        RuntimeConfig cfg = config();
        int port = ExternalProcess.freePort();
        long start = System.nanoTime();
        assertThatThrownBy(() -> NatsEventBus.connect("nats://127.0.0.1:" + port, "x", cfg))
                .isInstanceOf(TandemException.class).hasMessageContaining("nats://127.0.0.1:" + port);
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(cfg.eventsConnectTimeoutMs() + 3_000);
    }

    @Test
    void connect_malformedUrl_configError() {
        assertThatThrownBy(() -> NatsEventBus.parseUrls("http://h:1")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("nats://host:port");
        assertThatThrownBy(() -> NatsEventBus.parseUrls(" ")).isInstanceOf(ConfigException.class);
        assertThat(NatsEventBus.parseUrls("nats://a:1, nats://b:2")).containsExactly("nats://a:1", "nats://b:2");
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
