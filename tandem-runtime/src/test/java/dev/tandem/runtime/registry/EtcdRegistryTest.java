package dev.tandem.runtime.registry;

import static dev.tandem.runtime.TestRecords.worker;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.tandem.core.ConfigException;
import dev.tandem.core.TandemException;
import dev.tandem.runtime.EtcdProcess;
import dev.tandem.runtime.ExternalProcess;
import dev.tandem.runtime.RuntimeConfig;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.lease.LeaseTimeToLiveResponse;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.LeaseOption;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Against a real etcd started on free loopback ports. */
@Timeout(60)
class EtcdRegistryTest {
    /** etcd's smallest lease with default election settings is 2 s; tests use it to stay fast. */
    private static final Duration TTL = Duration.ofSeconds(2);
    private static final AtomicInteger NS = new AtomicInteger();
    private static EtcdProcess etcd;

    @BeforeAll
    static void startEtcd() {
        etcd = EtcdProcess.started();
    }

    @AfterAll
    static void stopEtcd() {
        if (etcd != null) {
            etcd.close();
        }
    }

    private static RuntimeConfig config() {
        return RuntimeConfig.defaults().withNamespace("t" + NS.incrementAndGet()).withLeaseTtlMs(TTL.toMillis());
    }

    @Test
    void register_thenWatch_deliversCurrentSetThenRemovalOnClose() {
        RuntimeConfig cfg = config();
        try (EtcdRegistry worker = EtcdRegistry.connect(etcd.endpoint(), cfg);
             EtcdRegistry frontend = EtcdRegistry.connect(etcd.endpoint(), cfg)) {
            Registration reg = worker.register(worker("w1"));
            RecordingListener seen = new RecordingListener();
            frontend.watchInstances(seen);

            await().atMost(5, TimeUnit.SECONDS).until(seen::synced);
            assertThat(seen.ids()).containsExactly("w1");
            assertThat(seen.events().get(0)).isEqualTo(new RegistryEvent.Added(reg.key(), worker("w1")));
            assertThat(reg.key()).isEqualTo("tandem/v1/instances/" + cfg.namespace() + "/aggregated/w1");

            reg.close();
            await().atMost(2, TimeUnit.SECONDS).until(() -> seen.ids().isEmpty());
        }
    }

    @Test
    void watch_lateRegistration_isSeen() {
        RuntimeConfig cfg = config();
        try (EtcdRegistry frontend = EtcdRegistry.connect(etcd.endpoint(), cfg);
             EtcdRegistry worker = EtcdRegistry.connect(etcd.endpoint(), cfg)) {
            RecordingListener seen = new RecordingListener();
            frontend.watchInstances(seen);
            await().atMost(5, TimeUnit.SECONDS).until(seen::synced);
            assertThat(seen.ids()).isEmpty();

            worker.register(worker("late"));
            await().atMost(5, TimeUnit.SECONDS).until(() -> seen.ids().equals(java.util.List.of("late")));
        }
    }

    @Test
    void close_withoutRevoking_recordDisappearsWithinTtl() {
        RuntimeConfig cfg = config();
        try (EtcdRegistry frontend = EtcdRegistry.connect(etcd.endpoint(), cfg)) {
            EtcdRegistry crashed = EtcdRegistry.connect(etcd.endpoint(), cfg);
            crashed.register(worker("gone"));
            RecordingListener seen = new RecordingListener();
            frontend.watchInstances(seen);
            await().atMost(5, TimeUnit.SECONDS).until(() -> seen.ids().contains("gone"));

            long closedAt = System.nanoTime();
            crashed.close(); // keep-alive stops, lease is not revoked: like a killed process
            assertThat(seen.ids()).as("not revoked, so still present right after the close").contains("gone");

            await().atMost(TTL.toMillis() + 2_000, TimeUnit.MILLISECONDS).until(() -> seen.ids().isEmpty());
            long goneAfterMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - closedAt);
            assertThat(goneAfterMs).as("removed by lease expiry, not at once").isGreaterThan(500);
        }
    }

    @Test
    void register_defaultConfig_tenSecondLeaseRenewedInTheBackground() throws Exception {
        RuntimeConfig cfg = RuntimeConfig.defaults().withNamespace("t" + NS.incrementAndGet());
        try (EtcdRegistry worker = EtcdRegistry.connect(etcd.endpoint(), cfg);
             Client raw = Client.builder().endpoints(etcd.endpoint()).build()) {
            Registration reg = worker.register(worker("default-ttl"));
            long lease = raw.getKVClient().get(ByteSequence.from(reg.key(), StandardCharsets.UTF_8)).get(5, TimeUnit.SECONDS)
                    .getKvs().get(0).getLease();
            LeaseTimeToLiveResponse granted = raw.getLeaseClient().timeToLive(lease, LeaseOption.DEFAULT)
                    .get(5, TimeUnit.SECONDS);
            assertThat(granted.getGrantedTTL()).isEqualTo(10);

            // a keep-alive every TTL/3 resets the lease: after 5 s it has not run down by 5 s
            Thread.sleep(5_000);
            long remaining = raw.getLeaseClient().timeToLive(lease, LeaseOption.DEFAULT).get(5, TimeUnit.SECONDS).getTTL();
            assertThat(remaining).as("seconds left on the lease after 5 s").isGreaterThan(5);
        }
    }

    @Test
    void keepAlive_longerThanTtl_recordStays() throws InterruptedException {
        RuntimeConfig cfg = config();
        try (EtcdRegistry worker = EtcdRegistry.connect(etcd.endpoint(), cfg);
             EtcdRegistry frontend = EtcdRegistry.connect(etcd.endpoint(), cfg)) {
            worker.register(worker("steady"));
            RecordingListener seen = new RecordingListener();
            frontend.watchInstances(seen);
            Thread.sleep(TTL.toMillis() + 1_000);
            assertThat(seen.ids()).containsExactly("steady");
            assertThat(seen.removals("steady")).isZero();
        }
    }

    @Test
    void leaseRevokedElsewhere_registersAgain() throws Exception {
        RuntimeConfig cfg = config();
        try (EtcdRegistry worker = EtcdRegistry.connect(etcd.endpoint(), cfg);
             EtcdRegistry frontend = EtcdRegistry.connect(etcd.endpoint(), cfg);
             Client raw = Client.builder().endpoints(etcd.endpoint()).build()) {
            Registration reg = worker.register(worker("phoenix"));
            RecordingListener seen = new RecordingListener();
            frontend.watchInstances(seen);
            await().atMost(5, TimeUnit.SECONDS).until(() -> seen.ids().contains("phoenix"));

            long lease = raw.getKVClient().get(ByteSequence.from(reg.key(), StandardCharsets.UTF_8)).get(5, TimeUnit.SECONDS)
                    .getKvs().get(0).getLease();
            assertThat(worker.leaseLosses()).isZero();
            raw.getLeaseClient().revoke(lease).get(5, TimeUnit.SECONDS);

            await().atMost(5, TimeUnit.SECONDS).until(() -> seen.removals("phoenix") == 1);
            await().atMost(5, TimeUnit.SECONDS).until(() -> seen.ids().contains("phoenix"));
            assertThat(seen.additions("phoenix")).isEqualTo(2);
            assertThat(worker.leaseLosses()).isEqualTo(1); // exported as tandem_worker_lease_losses_total
        }
    }

    @Test
    void etcdRestart_registrationSurvivesAndWatchResumes() throws Exception {
        RuntimeConfig cfg = config();
        try (EtcdRegistry worker = EtcdRegistry.connect(etcd.endpoint(), cfg);
             EtcdRegistry frontend = EtcdRegistry.connect(etcd.endpoint(), cfg);
             EtcdRegistry late = EtcdRegistry.connect(etcd.endpoint(), cfg)) {
            Registration reg = worker.register(worker("survivor"));
            RecordingListener seen = new RecordingListener();
            frontend.watchInstances(seen);
            await().atMost(5, TimeUnit.SECONDS).until(() -> seen.ids().contains("survivor"));

            etcd.restart();

            // The watch resumes: a registration made after the restart is seen.
            await().atMost(15, TimeUnit.SECONDS).ignoreExceptions().until(() -> {
                late.register(worker("after-restart"));
                return true;
            });
            await().atMost(10, TimeUnit.SECONDS).until(() -> seen.ids().contains("after-restart"));

            // The first registration is still kept alive well past its TTL.
            Thread.sleep(TTL.toMillis() + 1_000);
            try (Client raw = Client.builder().endpoints(etcd.endpoint()).build()) {
                long count = raw.getKVClient().get(ByteSequence.from(reg.key(), StandardCharsets.UTF_8),
                        GetOption.builder().withCountOnly(true).build()).get(5, TimeUnit.SECONDS).getCount();
                assertThat(count).isEqualTo(1);
            }
            assertThat(seen.ids()).contains("survivor", "after-restart");
        }
    }

    @Test
    void watch_invalidValueUnderPrefix_isIgnored() throws Exception {
        RuntimeConfig cfg = config();
        String prefix = RegistryKeys.instancesPrefix(cfg.namespace());
        try (EtcdRegistry frontend = EtcdRegistry.connect(etcd.endpoint(), cfg);
             EtcdRegistry worker = EtcdRegistry.connect(etcd.endpoint(), cfg);
             Client raw = Client.builder().endpoints(etcd.endpoint()).build()) {
            raw.getKVClient().put(ByteSequence.from(prefix + "decode/junk", StandardCharsets.UTF_8),
                    ByteSequence.from("not json", StandardCharsets.UTF_8)).get(5, TimeUnit.SECONDS);
            RecordingListener seen = new RecordingListener();
            frontend.watchInstances(seen);
            worker.register(worker("good"));
            await().atMost(5, TimeUnit.SECONDS).until(() -> seen.ids().contains("good"));
            assertThat(seen.ids()).containsExactly("good");
        }
    }

    @Test
    void connect_nothingListening_failsWithinDeadline() {
        RuntimeConfig cfg = config();
        int port = ExternalProcess.freePort();
        long start = System.nanoTime();
        assertThatThrownBy(() -> EtcdRegistry.connect("etcd://127.0.0.1:" + port, cfg))
                .isInstanceOf(TandemException.class)
                .hasMessageContaining("127.0.0.1:" + port);
        assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).isLessThan(cfg.registryTimeoutMs() + 3_000);
    }

    @Test
    void parseEndpoints_badScheme_isConfigError() {
        assertThatThrownBy(() -> EtcdRegistry.parseEndpoints("https://h:2379"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("https://h:2379");
        assertThatThrownBy(() -> EtcdRegistry.parseEndpoints("etcd://nohost"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("host and a port");
        assertThat(EtcdRegistry.parseEndpoints("etcd://a:1, http://b:2")).hasSize(2);
    }
}
