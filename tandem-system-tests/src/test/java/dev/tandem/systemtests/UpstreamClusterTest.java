package dev.tandem.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.runtime.process.ChildProcess;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code tandem worker --upstream}: two sidecar worker processes, each adapting a real llama-server,
 * registered in a real etcd and publishing on a real NATS, behind {@code tandem frontend}.
 */
class UpstreamClusterTest {
    private int readyStatus(int metricsPort) throws Exception {
        return cluster.http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort + "/ready"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private ClusterFixture cluster;
    private final List<LlamaServer> servers = new ArrayList<>();

    @AfterEach
    void stop() {
        if (cluster != null) {
            cluster.close();
        }
        servers.forEach(LlamaServer::close);
    }

    @Test
    void sidecarWorkers_serveLlamaServersGreedyText_andALostServerLeavesTheRegistry() throws Exception {
        LlamaServer.binary(); // skip (or fail) before anything starts when llama-server cannot be built
        cluster = new ClusterFixture("upstream-cluster");
        cluster.startServices(List.of("127.0.0.1"), "127.0.0.1");
        for (int i = 0; i < 2; i++) {
            servers.add(LlamaServer.start(cluster.dir, "llama-server-" + i));
        }
        cluster.startFrontend(List.of("--router", "kv", "--connect-timeout-ms", "120000"));
        List<ChildProcess> workers = new ArrayList<>();
        int metricsPort = freePort();
        for (int i = 0; i < 2; i++) {
            List<String> args = new ArrayList<>(List.of("--upstream", servers.get(i).url, "--lease-ttl-ms", "3000",
                    "--connect-timeout-ms", "120000"));
            if (i == 0) {
                args.addAll(List.of("--metrics-port", String.valueOf(metricsPort)));
            }
            workers.add(cluster.startWorker("up" + i, args));
        }
        cluster.awaitFrontend();
        for (ChildProcess p : workers) {
            cluster.awaitWorker(p);
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> cluster.listed().equals(Set.of("up0", "up1")));

        for (String prompt : List.of("Once upon a time", "The cat sat on the mat and")) {
            HttpResponse<String> own = cluster.http.send(HttpRequest.newBuilder(URI.create(servers.getFirst().url
                    + "/completion")).timeout(Duration.ofSeconds(30)).POST(HttpRequest.BodyPublishers.ofString(
                    ClusterFixture.JSON.createObjectNode().put("prompt", prompt).put("n_predict", 32)
                            .put("temperature", 0).toString())).build(), HttpResponse.BodyHandlers.ofString());
            JsonNode through = ClusterFixture.json(cluster.complete(prompt, 32));

            assertThat(through.at("/choices/0/text").asText()).as(prompt)
                    .isEqualTo(ClusterFixture.JSON.readTree(own.body()).get("content").asText()).isNotEmpty();
        }

        assertThat(readyStatus(metricsPort)).isEqualTo(200);
        servers.getFirst().kill();

        // the sidecar stays up but leaves the registry while its server does not answer
        workers.getFirst().awaitOutput(java.util.regex.Pattern.compile("upstream unreachable: leaving the registry"),
                Duration.ofSeconds(30));
        await().atMost(Duration.ofSeconds(30)).until(() -> cluster.listed().equals(Set.of("up1")));
        assertThat(workers.getFirst().isAlive()).isTrue();
        // and tells a readiness probe so: it is up, but not ready while its server does not answer
        assertThat(readyStatus(metricsPort)).isEqualTo(503);
        for (int i = 0; i < 4; i++) {
            HttpResponse<String> r = cluster.complete("After the crash " + i, 8);
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }
    }
}
