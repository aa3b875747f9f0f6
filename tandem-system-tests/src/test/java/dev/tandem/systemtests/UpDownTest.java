package dev.tandem.systemtests;

import dev.tandem.cli.Main;
import dev.tandem.cli.cluster.ClusterState;
import dev.tandem.cli.cluster.JavaLauncher;
import dev.tandem.cli.cluster.TandemChild;
import dev.tandem.runtime.Prerequisites;
import dev.tandem.runtime.process.ChildProcess;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The documented local cluster: {@code tandem up cluster.yaml} starts etcd, NATS, a frontend and
 * the file's workers as separate processes; {@code tandem down} stops every one of them.
 */
@Timeout(240)
class UpDownTest {
    private static final Pattern UP = Pattern.compile("is up: OpenAI API at (http://\\S+)/v1");
    private ChildProcess up;
    private Path stateDir;

    @AfterEach
    void tearDown() {
        if (up != null && up.isAlive()) {
            up.kill();
            // the parts outlive a killed 'up'; 'down' finds them through the state file
            Main.execute("down", "--state-dir", stateDir.toString());
        }
    }

    @Test
    void up_thenDown_servesRequestsThenStopsEveryProcess() throws Exception {
        Prerequisites.servers(); // 'up' starts etcd and nats-server from the PATH
        Path dir = Files.createTempDirectory(Files.createDirectories(Path.of("target", "system-tests")), "up-");
        stateDir = dir.resolve("state");
        Path file = dir.resolve("cluster.yaml");
        Files.writeString(file, """
                name: updown
                model: %s
                lease_ttl_ms: 3000
                frontend: { port: 0, router: round-robin }
                workers:
                  - { count: 2, mock: true, args: [--kv-blocks, "256", --mock-speedup, "20"] }
                jvm_options: [-Xmx384m, -XX:TieredStopAtLevel=1]
                """.formatted(ClusterFixture.modelFile()));
        JavaLauncher launcher = ClusterFixture.launcher();
        up = TandemChild.start(launcher, "up", dir.resolve("up.log"),
                List.of("up", file.toString(), "--state-dir", stateDir.toString()));

        String url = up.awaitOutput(UP, Duration.ofSeconds(200));
        ClusterState state = ClusterState.read(stateDir).orElseThrow();
        assertThat(state.children()).extracting(ClusterState.Member::label)
                .containsExactly("etcd", "nats-server", "frontend", "updown-aggregated-0", "updown-aggregated-1");
        try (HttpClient http = HttpClient.newHttpClient()) {
            for (int i = 0; i < 4; i++) {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Hello " + i + "\", \"max_tokens\": 4}"))
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            }
        }

        int code = Main.execute("down", "--state-dir", stateDir.toString());

        assertThat(code).isZero();
        assertThat(up.isAlive()).isFalse();
        assertThat(up.exitCode()).hasValue(143); // 128 + SIGTERM: stopped by the signal, after its shutdown hook ran
        assertThat(up.output()).contains("Tandem cluster 'updown' stopped");
        for (ClusterState.Member m : state.children()) {
            assertThat(m.handle()).as(m.label() + " still running").isEmpty();
        }
        assertThat(stateDir.resolve(ClusterState.FILE)).doesNotExist();
        assertThat(stateDir.resolve("etcd-data")).doesNotExist();
        assertThat(stateDir.resolve("frontend.log")).exists();
    }
}
