package dev.tandem.runtime.events;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class EmbeddedEventBusTest {

    @Test
    void subscribe_wildcard_receivesMatchingInOrder() {
        try (EmbeddedEventBus bus = new EmbeddedEventBus(1_000)) {
            List<String> got = new CopyOnWriteArrayList<>();
            bus.subscribe("tandem.ns.kv.*", (s, p) -> got.add(s + "=" + p[0]));
            for (int i = 0; i < 100; i++) {
                assertThat(bus.publish("tandem.ns.kv.w" + (i % 3), new byte[] {(byte) i})).isTrue();
            }
            bus.publish("tandem.ns.load.w0", new byte[] {0});
            await().atMost(2, TimeUnit.SECONDS).until(() -> got.size() == 100);
            for (int i = 0; i < 100; i++) {
                assertThat(got.get(i)).isEqualTo("tandem.ns.kv.w" + (i % 3) + "=" + i);
            }
        }
    }

    @Test
    void slowSubscriber_dropsBeyondCapacity_publisherNeverBlocks() throws InterruptedException {
        try (EmbeddedEventBus bus = new EmbeddedEventBus(10)) {
            CountDownLatch release = new CountDownLatch(1);
            List<Integer> got = new CopyOnWriteArrayList<>();
            bus.subscribe("a", (s, p) -> {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                got.add((int) p[0]);
            });
            for (int i = 0; i < 50; i++) {
                bus.publish("a", new byte[] {(byte) i});
            }
            release.countDown();
            await().atMost(2, TimeUnit.SECONDS).until(() -> got.size() == 10);
            assertThat(bus.droppedMessages()).isEqualTo(40);
            assertThat(got).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
        }
    }

    @Test
    void throwingHandler_subscriptionContinues() {
        try (EmbeddedEventBus bus = new EmbeddedEventBus(100)) {
            List<Integer> got = new CopyOnWriteArrayList<>();
            bus.subscribe("a", (s, p) -> {
                if (p[0] == 1) {
                    throw new IllegalStateException("boom");
                }
                got.add((int) p[0]);
            });
            bus.publish("a", new byte[] {1});
            bus.publish("a", new byte[] {2});
            await().atMost(2, TimeUnit.SECONDS).until(() -> got.equals(List.of(2)));
        }
    }

    @Test
    void closedSubscription_receivesNothing_andPublishedBytesAreCopied() throws InterruptedException {
        try (EmbeddedEventBus bus = new EmbeddedEventBus(100)) {
            List<Integer> got = new CopyOnWriteArrayList<>();
            List<Integer> other = new CopyOnWriteArrayList<>();
            EventSubscription sub = bus.subscribe("a", (s, p) -> got.add((int) p[0]));
            bus.subscribe("a", (s, p) -> other.add((int) p[0]));
            sub.close();
            byte[] payload = {5};
            bus.publish("a", payload);
            payload[0] = 6;
            await().atMost(2, TimeUnit.SECONDS).until(() -> other.equals(List.of(5)));
            assertThat(got).isEmpty();
        }
    }
}
