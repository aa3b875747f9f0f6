package dev.tandem.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.cli.Main;
import dev.tandem.cli.cluster.PrometheusTargets;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A real Prometheus, configured by deploy/prometheus, scraping a real {@code tandem up} cluster
 * (one prefill and one decode worker running stories260K; mock engines keep no KV pool peers
 * can pull from, and the transfer series need pulls) under a short load: every target is up,
 * every recording rule returns data, every panel query of deploy/grafana/tandem.json returns
 * data without an error, and workers answer their readiness probe.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(300)
class PrometheusClusterTest {
    private static final Pattern UP = Pattern.compile("is up: OpenAI API at (http://\\S+)/v1");
    /** Load duration: long enough for 1 m rate windows to hold many 1 s scrapes. */
    private static final Duration LOAD = Duration.ofSeconds(20);
    private ChildProcess up;
    private Path stateDir;
    private Prometheus prometheus;
    private String url;
    private final Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();

    @BeforeAll
    void startClusterAndPrometheus() throws Exception {
        Prometheus.require("prometheus");
        Path dir = Files.createTempDirectory(Files.createDirectories(Path.of("target", "system-tests")), "prom-")
                .toAbsolutePath();
        stateDir = dir.resolve("state");
        Path file = dir.resolve("cluster.yaml");
        Files.writeString(file, """
                name: prom
                model: %s
                lease_ttl_ms: 3000
                frontend: { port: 0, router: kv, args: [--disagg-min-tokens, "1"] }
                workers:
                  - { role: prefill, count: 1, args: [--kv-blocks, "256", --threads, "1"] }
                  - { role: decode, count: 1, args: [--kv-blocks, "256", --threads, "1"] }
                jvm_options: [-Xmx384m, -XX:TieredStopAtLevel=1]
                """.formatted(ClusterFixture.modelFile()));
        up = TandemChild.start(ClusterFixture.launcher(), "up", dir.resolve("up.log"),
                List.of("up", file.toString(), "--state-dir", stateDir.toString()));
        url = up.awaitOutput(UP, Duration.ofSeconds(240));

        Path config = Prometheus.copyConfig(dir, 1);
        Files.createSymbolicLink(config.resolveSibling("targets").resolve("prom.json"),
                stateDir.resolve(PrometheusTargets.FILE));
        prometheus = Prometheus.start(config, dir);
        runLoad();
    }

    @AfterAll
    void stop() {
        if (prometheus != null) {
            prometheus.close();
        }
        if (up != null && up.isAlive()) {
            Main.execute("down", "--state-dir", stateDir.toString());
            up.kill();
        }
    }

    /** Four clients stream completions with shared prefixes (so caches hit) for {@link #LOAD}. */
    private void runLoad() throws InterruptedException {
        long end = System.nanoTime() + LOAD.toNanos();
        List<Thread> clients = new ArrayList<>();
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            for (int c = 0; c < 4; c++) {
                int client = c;
                clients.add(Thread.ofVirtual().start(() -> {
                    for (int i = 0; System.nanoTime() < end; i++) {
                        String prompt = "Once upon a time there was a little robot who liked to count. " + "It counted "
                                + "stars and sheep and stones. ".repeat(1 + i % 4) + "Client " + client + " step " + i;
                        statuses.computeIfAbsent(send(http, prompt), k -> new AtomicInteger()).incrementAndGet();
                    }
                }));
            }
            for (Thread t : clients) {
                t.join(LOAD.plusSeconds(60));
            }
        }
    }

    private int send(HttpClient http, String prompt) {
        String body = ClusterFixture.JSON.createObjectNode().put("model", "stories260K").put("prompt", prompt)
                .put("max_tokens", 12).put("stream", true).toString();
        try {
            return http.send(HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                    .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString())
                    .statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -2;
        }
    }

    @Test
    void load_succeeded_andEveryTargetIsUp() {
        assertThat(statuses.keySet()).containsExactly(200);
        assertThat(statuses.get(200).get()).isGreaterThanOrEqualTo(4); // one per client at least (a busy machine is slow)
        JsonNode up = prometheus.query("up{job=\"tandem\"}").path("result");
        Map<String, String> byTarget = new LinkedHashMap<>();
        for (JsonNode s : up) {
            byTarget.put(s.path("metric").path("component").asText() + "/" + s.path("metric").path("role").asText(),
                    s.path("value").get(1).asText());
        }
        assertThat(byTarget).containsOnly(Map.entry("frontend/", "1"), Map.entry("worker/prefill", "1"),
                Map.entry("worker/decode", "1"));
    }

    @Test
    void everyRecordingRule_returnsData() throws IOException {
        List<String> rules = PrometheusRulesTest.recordingRules();
        assertThat(rules).hasSizeGreaterThan(30);
        List<String> empty = awaitAllReturnData(rules);

        assertThat(empty).as("recording rules without data").isEmpty();
        // the load went through both halves of disaggregation: the decode worker pulled KV blocks
        assertThat(prometheus.query("sum(tandem:kv_transfer_pulled_bytes:rate1m{role=\"decode\"}) > 0")
                .path("result")).isNotEmpty();
    }

    @Test
    void everyGrafanaPanelQuery_returnsData() throws IOException {
        JsonNode dashboard = ClusterFixture.JSON.readTree(Prometheus.GRAFANA_DASHBOARD.toFile());
        List<String> queries = new ArrayList<>();
        for (JsonNode panel : dashboard.path("panels")) {
            for (JsonNode target : panel.path("targets")) {
                queries.add(target.path("expr").asText());
            }
        }
        assertThat(queries).hasSizeGreaterThan(30);
        List<String> resolved = queries.stream()
                .map(q -> q.replace("$cluster", ".*").replace("$__rate_interval", "1m")).toList();

        List<String> empty = awaitAllReturnData(resolved);

        assertThat(empty).as("dashboard queries without data").isEmpty();
        String variable = dashboard.path("templating").path("list").get(1).path("definition").asText();
        assertThat(variable).startsWith("label_values(");
        assertThat(prometheus.get("/api/v1/label/cluster/values")).contains("\"prom\"");
    }

    @Test
    void workers_answerTheirReadinessProbe() throws IOException, InterruptedException {
        JsonNode targets = ClusterFixture.JSON.readTree(stateDir.resolve(PrometheusTargets.FILE).toFile());
        int workers = 0;
        try (HttpClient http = HttpClient.newHttpClient()) {
            for (JsonNode group : targets) {
                if ("worker".equals(group.path("labels").path("component").asText())) {
                    workers++;
                    String base = "http://" + group.path("targets").get(0).asText();
                    HttpResponse<Void> r = http.send(HttpRequest.newBuilder(URI.create(base + "/ready"))
                            .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.discarding());
                    assertThat(r.statusCode()).as(base).isEqualTo(200);
                }
            }
        }
        assertThat(workers).isEqualTo(2);
    }

    /**
     * Waits (at most 30 s: rules evaluate every second) until every query returns a sample, or
     * fails at once on a query Prometheus rejects; returns the ones still empty.
     */
    private List<String> awaitAllReturnData(List<String> queries) {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        List<String> empty = new ArrayList<>(queries);
        while (true) {
            empty.removeIf(q -> prometheus.resultCount(q) > 0);
            if (empty.isEmpty() || System.nanoTime() > deadline) {
                return empty;
            }
            try {
                Thread.sleep(1_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return empty;
            }
        }
    }
}
