package dev.tandem.systemtests;

import dev.tandem.cli.Main;
import dev.tandem.cli.cluster.ClusterState;
import dev.tandem.cli.cluster.TandemChild;
import dev.tandem.runtime.Prerequisites;
import dev.tandem.runtime.process.ChildProcess;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code tandem up} with a cluster file whose workers are {@code upstream:} entries: etcd, NATS, a
 * frontend and one sidecar worker per real llama-server (stories260K), each its own process, as
 * the documented local cluster starts them.
 */
@Timeout(240)
class UpstreamUpTest {
    private static final Pattern UP = Pattern.compile("is up: OpenAI API at (http://\\S+)/v1");
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<LlamaServer> servers = new ArrayList<>();
    private ChildProcess up;
    private Path stateDir;

    @AfterEach
    void tearDown() {
        if (up != null && up.isAlive()) {
            up.kill();
            // the parts outlive a killed 'up'; 'down' finds them through the state file
            Main.execute("down", "--state-dir", stateDir.toString());
        }
        servers.forEach(LlamaServer::close);
        http.close();
    }

    @Test
    void upstreamEntries_serveLlamaServersGreedyText_andConversationsReturnToTheirServer() throws Exception {
        Prerequisites.servers(); // 'up' starts etcd and nats-server from the PATH
        LlamaServer.binary(); // skip (or fail) before anything starts when llama-server cannot be built
        Path dir = Files.createTempDirectory(Files.createDirectories(Path.of("target", "system-tests")
                .toAbsolutePath()), "upstream-up-");
        for (int i = 0; i < 2; i++) {
            servers.add(LlamaServer.start(dir, "llama-server-" + i));
        }
        stateDir = dir.resolve("state");
        Path file = dir.resolve("cluster.yaml");
        Files.writeString(file, """
                name: upstream-up
                model: %s
                lease_ttl_ms: 3000
                frontend: { port: 0, router: kv }
                workers:
                  - { upstream: "%s" }
                  - { upstream: "%s", args: [--upstream-kind, llama-server] }
                jvm_options: [-Xmx384m, -XX:TieredStopAtLevel=1]
                """.formatted(ClusterFixture.modelFile(), servers.get(0).url, servers.get(1).url));
        up = TandemChild.start(ClusterFixture.launcher(), "up", dir.resolve("up.log"),
                List.of("up", file.toString(), "--state-dir", stateDir.toString()));

        String url = up.awaitOutput(UP, Duration.ofSeconds(200));

        assertThat(ClusterState.read(stateDir).orElseThrow().children()).extracting(ClusterState.Member::label)
                .containsExactly("etcd", "nats-server", "frontend", "upstream-up-upstream-0", "upstream-up-upstream-1");
        UpstreamChecks.assertGreedyTextIsTheServersOwn(http, url, servers.getFirst(),
                List.of("Once upon a time", "The little dog ran to the park and"), 32);

        // each conversation's later turns go to the server that computed its earlier ones: the router
        // learns where a prompt is cached from the sidecars' KV events on NATS
        UpstreamChecks.assertConversationsReturnToTheirServer(http, url);

        assertThat(Main.execute("down", "--state-dir", stateDir.toString())).isZero();
        assertThat(up.isAlive()).isFalse();
        assertThat(up.output()).contains("Tandem cluster 'upstream-up' stopped");
        // the servers are the user's: 'down' stops only what 'up' started
        assertThat(servers).allMatch(LlamaServer::isAlive);
    }
}
