package dev.tandem.runtime.registry;

import static dev.tandem.runtime.TestRecords.worker;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tandem.core.WorkerRecord;
import dev.tandem.runtime.RuntimeConfig;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class EmbeddedRegistryTest {
    private static final long TTL_NS = TimeUnit.SECONDS.toNanos(10);
    private final AtomicLong clock = new AtomicLong(1_000);
    private final EmbeddedRegistryStore store = new EmbeddedRegistryStore(clock::get);
    private final RuntimeConfig config = RuntimeConfig.defaults().withNamespace("ns");

    @Test
    void watch_existingAndLateRegistrations_deliveredInOrder() {
        EmbeddedRegistry worker = new EmbeddedRegistry(store, config);
        EmbeddedRegistry frontend = new EmbeddedRegistry(store, config);
        Registration first = worker.register(worker("a"));
        RecordingListener seen = new RecordingListener();
        frontend.watchInstances(seen);
        worker.register(worker("b"));

        await().atMost(2, TimeUnit.SECONDS).until(() -> seen.ids().equals(List.of("a", "b")));
        assertThat(seen.events()).containsExactly(
                new RegistryEvent.Added(first.key(), worker("a")),
                new RegistryEvent.Synced(1),
                new RegistryEvent.Added("tandem/v1/instances/ns/aggregated/b", worker("b")));
        store.checkInvariants();
    }

    @Test
    void registrationClose_removesAtOnce() {
        EmbeddedRegistry worker = new EmbeddedRegistry(store, config);
        RecordingListener seen = new RecordingListener();
        new EmbeddedRegistry(store, config).watchInstances(seen);
        Registration reg = worker.register(worker("a"));
        await().atMost(2, TimeUnit.SECONDS).until(() -> seen.ids().contains("a"));

        reg.close();
        await().atMost(2, TimeUnit.SECONDS).until(() -> seen.ids().isEmpty());
        assertThat(store.current("tandem/")).isEmpty();
        store.checkInvariants();
    }

    @Test
    void sessionClosedWithoutDeregistering_leaseExpiresAfterTtlOnClock() {
        EmbeddedRegistry crashed = new EmbeddedRegistry(store, config);
        crashed.register(worker("a"));
        crashed.close();

        clock.addAndGet(TTL_NS - 1);
        assertThat(store.doWork()).isZero();
        assertThat(store.current("tandem/")).hasSize(1);

        clock.addAndGet(1);
        assertThat(store.doWork()).isEqualTo(1);
        assertThat(store.current("tandem/")).isEmpty();
        store.checkInvariants();
    }

    @Test
    void openSession_keepsLeaseAliveAcrossManyTtls() {
        EmbeddedRegistry worker = new EmbeddedRegistry(store, config);
        worker.register(worker("a"), Duration.ofSeconds(10));
        for (int i = 0; i < 10; i++) {
            clock.addAndGet(TTL_NS / 2);
            assertThat(store.doWork()).isZero();
        }
        assertThat(store.current("tandem/")).containsOnlyKeys("tandem/v1/instances/ns/aggregated/a");
    }

    @Test
    void register_sameIdTwice_replacesRecordAndWatchSeesChange() {
        EmbeddedRegistry worker = new EmbeddedRegistry(store, config);
        RecordingListener seen = new RecordingListener();
        new EmbeddedRegistry(store, config).watchInstances(seen);
        worker.register(worker("a", "m", 16));
        WorkerRecord moved = worker("a", "m", 32);
        worker.register(moved);

        await().atMost(2, TimeUnit.SECONDS).until(() -> seen.additions("a") == 2);
        assertThat(store.current("tandem/").values()).containsExactly(moved);
        store.checkInvariants();
    }

    @Test
    void watch_prefixOfOtherNamespace_seesNothing() {
        new EmbeddedRegistry(store, config.withNamespace("other")).register(worker("x"));
        RecordingListener seen = new RecordingListener();
        new EmbeddedRegistry(store, config).watchInstances(seen);
        await().atMost(2, TimeUnit.SECONDS).until(seen::synced);
        assertThat(seen.ids()).isEmpty();
    }

    @Test
    void closedWatch_receivesNothingMore() throws InterruptedException {
        EmbeddedRegistry worker = new EmbeddedRegistry(store, config);
        RecordingListener seen = new RecordingListener();
        RegistryWatch watch = new EmbeddedRegistry(store, config).watchInstances(seen);
        await().atMost(2, TimeUnit.SECONDS).until(seen::synced);
        watch.close();
        worker.register(worker("a"));
        Thread.sleep(50);
        assertThat(seen.ids()).isEmpty();
    }
}
