package dev.tandem.runtime.events;

import static dev.tandem.runtime.events.RecordingEvents.range;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.runtime.RuntimeConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(20)
class KvEventPublisherTest {
    private static final RuntimeConfig CONFIG = RuntimeConfig.defaults().withNamespace("ns").withEvents(100, 20, 1_000);

    private static KvEvent stored(long id, int blocks) {
        return new KvEvent.Stored(id, false, 0, new long[blocks], new long[blocks]);
    }

    @Test
    void burstOfEvents_publishedInFewBatchesInOrder() {
        try (GatedBus bus = new GatedBus(); KvEventPublisher pub = new KvEventPublisher(bus, "w1", CONFIG)) {
            RecordingEvents seen = new RecordingEvents();
            try (var _ = new WorkerEventSubscriber(bus, "ns", seen)) {
                for (int i = 0; i < 200; i++) {
                    pub.onKvEvent(stored(i, 2));
                }
                await().atMost(5, TimeUnit.SECONDS).until(() -> seen.eventIds().size() == 200);
                assertThat(seen.eventIds()).isEqualTo(range(0, 200));
                assertThat(pub.publishedBatches()).as("batched, not one message per event").isLessThan(20);
                assertThat(pub.droppedEvents()).isZero();
            }
        }
    }

    @Test
    void largeEvents_splitIntoBatchesUnderMaxBytes() {
        try (GatedBus bus = new GatedBus(); KvEventPublisher pub = new KvEventPublisher(bus, "w1", CONFIG)) {
            List<Integer> sizes = new ArrayList<>();
            RecordingEvents seen = new RecordingEvents();
            bus.subscribe(Subjects.kv("ns", "w1"), (s, p) -> {
                synchronized (sizes) {
                    sizes.add(p.length);
                }
            });
            try (var _ = new WorkerEventSubscriber(bus, "ns", seen)) {
                for (int i = 0; i < 20; i++) {
                    pub.onKvEvent(stored(i, 4_000)); // 64 KB each
                }
                await().atMost(5, TimeUnit.SECONDS).until(() -> seen.eventIds().size() == 20);
                assertThat(seen.eventIds()).isEqualTo(range(0, 20));
                synchronized (sizes) {
                    assertThat(sizes).hasSizeGreaterThanOrEqualTo(5).allMatch(n -> n <= KvEventPublisher.MAX_BATCH_BYTES);
                }
            }
        }
    }

    @Test
    void busDown_eventsDroppedNumberingContinues_publishingResumes() {
        try (GatedBus bus = new GatedBus(); KvEventPublisher pub = new KvEventPublisher(bus, "w1", CONFIG)) {
            RecordingEvents seen = new RecordingEvents();
            try (var _ = new WorkerEventSubscriber(bus, "ns", seen)) {
                for (int i = 0; i < 10; i++) {
                    pub.onKvEvent(stored(i, 1));
                }
                await().atMost(5, TimeUnit.SECONDS).until(() -> seen.eventIds().size() == 10);
                bus.up = false;
                for (int i = 10; i < 20; i++) {
                    pub.onKvEvent(stored(i, 1));
                }
                await().atMost(5, TimeUnit.SECONDS).until(() -> pub.droppedEvents() == 10);
                bus.up = true;
                for (int i = 20; i < 30; i++) {
                    pub.onKvEvent(stored(i, 1));
                }
                await().atMost(5, TimeUnit.SECONDS).until(() -> seen.eventIds().size() == 20);
                List<Long> expected = new ArrayList<>(range(0, 10));
                expected.addAll(range(20, 30));
                assertThat(seen.eventIds()).isEqualTo(expected);
                assertThat(pub.publishedEvents()).isEqualTo(20);
            }
        }
    }

    @Test
    void queueFull_dropsNewEventsWithoutBlockingEngine() {
        RuntimeConfig small = CONFIG.withEvents(100, 0, 16);
        try (GatedBus bus = new GatedBus(); KvEventPublisher pub = new KvEventPublisher(bus, "w1", small)) {
            CountDownLatch stuck = new CountDownLatch(1);
            bus.block = stuck;
            pub.onKvEvent(stored(0, 1));
            await().atMost(2, TimeUnit.SECONDS).until(() -> pub.queuedEvents() == 0); // taken, now blocked publishing
            long start = System.nanoTime();
            for (int i = 1; i <= 100; i++) {
                pub.onKvEvent(stored(i, 1));
            }
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(500);
            assertThat(pub.droppedEvents()).isEqualTo(100 - 16);
            stuck.countDown();
            await().atMost(5, TimeUnit.SECONDS).until(() -> pub.publishedEvents() == 17);
        }
    }

    @Test
    void loadPublisher_reportsPeriodically() {
        try (GatedBus bus = new GatedBus()) {
            RecordingEvents seen = new RecordingEvents();
            LoadReport report = new LoadReport(100, 10, 5, 2, 1, 64, 1_000, 250);
            try (var _ = new WorkerEventSubscriber(bus, "ns", seen);
                 LoadPublisher pub = new LoadPublisher(bus, "w9", () -> report, CONFIG.withLoadReportIntervalMs(20))) {
                await().atMost(5, TimeUnit.SECONDS).until(() -> pub.publishedReports() >= 3);
                await().atMost(5, TimeUnit.SECONDS).until(() -> report.equals(seen.loads.get("w9")));
            }
        }
    }

    @Test
    void subscriber_messageWithMismatchedWorkerId_dropped() {
        try (GatedBus bus = new GatedBus()) {
            RecordingEvents seen = new RecordingEvents();
            try (var sub = new WorkerEventSubscriber(bus, "ns", seen)) {
                bus.publish(Subjects.kv("ns", "w1"), EventCodec.encode(
                        new WorkerEventMessage.KvEventBatch("impostor", List.of(new KvEvent.Cleared(0)))));
                bus.publish(Subjects.kv("ns", "w1"), new byte[] {9, 9, 9, 9});
                bus.publish(Subjects.kv("ns", "w1"), EventCodec.encode(
                        new WorkerEventMessage.KvEventBatch("w1", List.of(new KvEvent.Cleared(7)))));
                await().atMost(2, TimeUnit.SECONDS).until(() -> seen.eventIds().equals(List.of(7L)));
                assertThat(sub.malformedMessages()).isEqualTo(2);
            }
        }
    }
}
