package dev.tandem.systemtests;

import dev.tandem.runtime.process.ChildProcess;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A worker in its own Linux network namespace, joined to the host's by a veth pair: it reaches
 * etcd, NATS and the frontend (and the frontend reaches it) over real interfaces with their own
 * addresses. Cutting the link makes it vanish from the frontend; restoring it brings it back.
 * Skipped, with the reason, where namespaces cannot be created.
 */
@Timeout(240)
class NetworkPartitionTest {
    static final long TTL_MS = 2_000;
    static NetworkNamespaces net;
    static ClusterFixture cluster;
    static ChildProcess worker;

    @BeforeAll
    @Timeout(300)
    static void start() throws Exception {
        Optional<String> unavailable = NetworkNamespaces.unavailableReason();
        if (unavailable.isPresent()) {
            Assumptions.abort("network namespaces cannot be created on this machine: " + unavailable.get());
        }
        net = NetworkNamespaces.create();
        cluster = new ClusterFixture("netns");
        cluster.startServices(List.of("127.0.0.1", net.hostAddress), "0.0.0.0");
        cluster.startFrontend(List.of());
        worker = cluster.startWorker(cluster.launcher.withPrefix(net.execPrefix()), "cut-off", List.of(
                "--registry", cluster.etcd.urlOn(net.hostAddress), "--events", cluster.nats.urlOn(net.hostAddress),
                "--rpc-host", net.namespaceAddress, "--advertise", net.namespaceAddress,
                "--lease-ttl-ms", Long.toString(TTL_MS), "--mock", "--mock-speedup", "20", "--kv-blocks", "256"));
        cluster.awaitFrontend();
        cluster.awaitWorker(worker);
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
        if (net != null) {
            net.close();
        }
    }

    @Test
    void cutOff_workerInItsOwnNamespace_disappearsAndComesBackWhenTheLinkReturns() throws Exception {
        assertThat(cluster.worker("cut-off").rpcAddress()).startsWith(net.namespaceAddress + ":");
        await().atMost(Duration.ofSeconds(60)).until(() -> cluster.listed().equals(Set.of("cut-off")));
        assertThat(cluster.complete("The bird sang a song", 4).statusCode()).isEqualTo(200);

        net.cut();
        long cutNs = System.nanoTime();
        await().atMost(Duration.ofMillis(TTL_MS + 8_000)).pollInterval(Duration.ofMillis(100))
                .until(() -> cluster.listed().isEmpty());
        System.out.printf("worker cut off: gone from the frontend after %d ms%n", (System.nanoTime() - cutNs) / 1_000_000);
        assertThat(cluster.status("/ready")).isEqualTo(503);
        assertThat(cluster.complete("The bird sang a song", 4).statusCode()).isEqualTo(503);

        net.restore();
        long restoredNs = System.nanoTime();
        await().atMost(Duration.ofSeconds(90)).pollInterval(Duration.ofMillis(200))
                .until(() -> cluster.listed().equals(Set.of("cut-off")));
        System.out.printf("link restored: worker back after %d ms%n", (System.nanoTime() - restoredNs) / 1_000_000);
        assertThat(cluster.complete("The bird sang another song", 4).statusCode()).isEqualTo(200);
        // its lease ran out while it was cut off, so it registered under a new one
        assertThat(worker.output()).contains("registered again at");
    }
}
