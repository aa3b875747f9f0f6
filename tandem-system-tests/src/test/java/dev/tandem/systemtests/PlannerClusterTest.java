package dev.tandem.systemtests;

import dev.tandem.cli.Main;
import dev.tandem.cli.cluster.TandemChild;
import dev.tandem.runtime.process.ChildProcess;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code tandem up --planner} on mock workers: a load that rises makes the planner start decode
 * workers; when it falls to a trickle the planner drains them again, one at a time, and no
 * request fails on the way, including those running on a worker while it drains.
 */
@Timeout(420)
class PlannerClusterTest {
    private static final Pattern UP = Pattern.compile("is up: OpenAI API at (http://\\S+)/v1");
    private static final Pattern DECODE_WORKERS = Pattern.compile("(?m)^tandem_frontend_workers\\{role=\"decode\"} (\\S+)$");
    private ChildProcess up;
    private Path stateDir;
    private final Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();

    @AfterEach
    void tearDown() {
        if (up != null && up.isAlive()) {
            Main.execute("down", "--state-dir", stateDir.toString());
            up.kill();
        }
    }

    @Test
    void risingLoad_growsTheDecodePool_fallingLoad_drainsItWithoutFailingARequest() throws Exception {
        Path dir = Files.createTempDirectory(Files.createDirectories(Path.of("target", "system-tests")), "planner-")
                .toAbsolutePath();
        stateDir = dir.resolve("state");
        Path file = dir.resolve("cluster.yaml");
        // small KV pools: 16 clients fill one decode worker, so sequences wait and ITL rises
        Files.writeString(file, """
                name: planner
                model: %s
                lease_ttl_ms: 3000
                frontend: { port: 0, router: kv }
                workers:
                  - { role: prefill, count: 1, mock: true, args: [--kv-blocks, "64"] }
                  - { role: decode, count: 1, mock: true, args: [--kv-blocks, "48"] }
                jvm_options: [-Xmx256m, -XX:TieredStopAtLevel=1]
                """.formatted(ClusterFixture.modelFile()));
        up = TandemChild.start(ClusterFixture.launcher(), "up", dir.resolve("up.log"), List.of("up", file.toString(),
                "--state-dir", stateDir.toString(), "--planner", "--ttft-slo-ms", "2000", "--itl-slo-ms", "50",
                "--max-prefill", "1", "--max-decode", "3", "--cooldown-ms", "3000", "--scale-down-hold-ms", "6000",
                "--window-ms", "5000", "--planner-interval-ms", "1000"));
        String url = up.awaitOutput(UP, Duration.ofSeconds(240));

        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            AtomicBoolean heavy = new AtomicBoolean(true);
            AtomicBoolean running = new AtomicBoolean(true);
            List<Thread> clients = new ArrayList<>();
            for (int c = 0; c < 16; c++) {
                int client = c;
                clients.add(Thread.ofVirtual().start(() -> {
                    for (int i = 0; running.get(); i++) {
                        if (client > 0 && !heavy.get()) {
                            sleep(200); // the fall: one client keeps a trickle going
                            continue;
                        }
                        send(http, url, "Once upon a time a robot " + client + " counted to " + i + ".");
                    }
                }));
            }
            int peak = awaitDecodeWorkers(http, url, n -> n >= 2, Duration.ofSeconds(150));
            heavy.set(false);
            int after = awaitDecodeWorkers(http, url, n -> n == 1, Duration.ofSeconds(150));
            // the frontend drops a draining worker at once; its process ends when its requests are done
            up.awaitOutput(Pattern.compile("planner: drained and stopped decode worker"), Duration.ofSeconds(120));
            running.set(false);
            for (Thread t : clients) {
                t.join(Duration.ofSeconds(90));
            }

            assertThat(peak).as(up.output()).isGreaterThanOrEqualTo(2);
            assertThat(after).isEqualTo(1);
        }
        assertThat(statuses.keySet()).as("HTTP statuses " + statuses).containsExactly(200);
        assertThat(up.output()).contains("planner: started decode worker").contains("planner: drained and stopped decode worker");
    }

    /** Polls the frontend's decode worker count until {@code done}; returns the last count. */
    private int awaitDecodeWorkers(HttpClient http, String url, java.util.function.IntPredicate done, Duration timeout)
            throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int n = -1;
        while (System.nanoTime() < deadline) {
            String metrics = http.send(HttpRequest.newBuilder(URI.create(url + "/metrics"))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
            Matcher m = DECODE_WORKERS.matcher(metrics);
            n = m.find() ? (int) Double.parseDouble(m.group(1)) : -1;
            if (done.test(n)) {
                return n;
            }
            Thread.sleep(500);
        }
        return n;
    }

    private void send(HttpClient http, String url, String prompt) {
        String body = ClusterFixture.JSON.createObjectNode().put("model", "stories260K").put("prompt", prompt)
                .put("max_tokens", 48).put("stream", true).put("ignore_eos", true).toString();
        int status;
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                    .header("Content-Type", "application/json").timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            status = r.statusCode();
            // a stream that broke after its 200 header ends with an error event, not [DONE]
            if (status == 200 && (!r.body().contains("data: [DONE]") || r.body().contains("\"error\""))) {
                status = -2;
            }
        } catch (IOException e) {
            status = -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        statuses.computeIfAbsent(status, k -> new AtomicInteger()).incrementAndGet();
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
