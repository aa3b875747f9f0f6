package dev.tandem.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.runtime.Prerequisites;
import dev.tandem.runtime.process.ChildProcess;
import dev.tandem.runtime.process.FreePorts;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.fail;

/**
 * Debian's {@code prometheus} package for tests: {@code promtool} runs, and a real Prometheus
 * server on a free loopback port with its own storage directory, queried over its HTTP API.
 * Without the package the tests are skipped with the reason, unless
 * {@code TANDEM_REQUIRE_SERVERS=1} (bin/setup installs it; CI sets the variable), when they fail.
 */
final class Prometheus implements AutoCloseable {
    /** The repository's deploy/prometheus (tests run in tandem-system-tests). */
    static final Path CONFIG_DIR = Path.of("..", "deploy", "prometheus").toAbsolutePath().normalize();
    static final Path GRAFANA_DASHBOARD = Path.of("..", "deploy", "grafana", "tandem.json").toAbsolutePath().normalize();
    private static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(60);

    private final ChildProcess process;
    private final String url;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    private Prometheus(ChildProcess process, String url) {
        this.process = process;
        this.url = url;
    }

    /**
     * The path of {@code binary} (prometheus or promtool) on PATH; skips the test without it, or
     * fails it where {@code TANDEM_REQUIRE_SERVERS=1} ({@link Prerequisites#prometheus()}).
     */
    static String require(String binary) {
        Prerequisites.prometheus();
        for (String d : System.getenv("PATH").split(File.pathSeparator)) {
            Path p = Path.of(d, binary);
            if (!d.isEmpty() && Files.isExecutable(p)) {
                return p.toString();
            }
        }
        throw new AssertionError(binary + " vanished from PATH");
    }

    /** Result of one command: exit code and output (stdout and stderr). */
    record Run(int exitCode, String output) {
    }

    /** Runs {@code promtool args...} in {@code dir} with a deadline. */
    static Run promtool(Path dir, String... args) {
        List<String> command = new ArrayList<>();
        command.add(require("promtool"));
        command.addAll(List.of(args));
        ChildProcess.Finished f = ChildProcess.run(command, dir, java.util.Map.of(), COMMAND_TIMEOUT);
        return new Run(f.exitCode(), f.output());
    }

    /**
     * Copies deploy/prometheus into {@code dir} (so the test can point it at its own targets and
     * shorten the intervals) with scrape and evaluation every {@code intervalSeconds}.
     */
    static Path copyConfig(Path dir, int intervalSeconds) throws IOException {
        Path config = Files.createDirectories(dir.resolve("prometheus"));
        Files.createDirectories(config.resolve("targets"));
        try (Stream<Path> files = Files.list(CONFIG_DIR)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.copy(f, config.resolve(f.getFileName()));
            }
        }
        Path yml = config.resolve("prometheus.yml");
        String text = Files.readString(yml)
                .replace("scrape_interval: 15s", "scrape_interval: " + intervalSeconds + "s")
                .replace("evaluation_interval: 15s", "evaluation_interval: " + intervalSeconds + "s")
                .replace("refresh_interval: 10s", "refresh_interval: " + intervalSeconds + "s")
                .replace("scrape_timeout: 10s", "scrape_timeout: " + intervalSeconds + "s");
        Files.writeString(yml, text);
        return yml;
    }

    /** Starts {@code prometheus} with {@code config} on a free loopback port; returns once it is ready. */
    static Prometheus start(Path config, Path dir) {
        String binary = require("prometheus");
        int port = FreePorts.next();
        String address = "127.0.0.1:" + port;
        ChildProcess p = ChildProcess.start("prometheus", List.of(binary,
                "--config.file=" + config, "--storage.tsdb.path=" + dir.resolve("prometheus-data"),
                "--web.listen-address=" + address, "--web.enable-lifecycle"), dir.resolve("prometheus.log"));
        Prometheus prom = new Prometheus(p, "http://" + address);
        try {
            p.awaitOutput(Pattern.compile("Server is ready to receive web requests"), Duration.ofSeconds(60));
        } catch (RuntimeException e) {
            p.stop(Duration.ofSeconds(5));
            throw e;
        }
        return prom;
    }

    String url() {
        return url;
    }

    /** An instant query; the API's {@code data} (resultType, result) or an AssertionError naming the error. */
    JsonNode query(String promql) {
        String body = get("/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8));
        try {
            JsonNode json = ClusterFixture.JSON.readTree(body);
            if (!"success".equals(json.path("status").asText())) {
                throw new AssertionError("query failed: " + promql + ": " + json.path("error").asText(body));
            }
            return json.path("data");
        } catch (IOException e) {
            throw new AssertionError("not JSON from Prometheus for " + promql + ": " + body, e);
        }
    }

    /** Series (or samples) an instant query returns now. */
    int resultCount(String promql) {
        JsonNode data = query(promql);
        JsonNode result = data.path("result");
        return switch (data.path("resultType").asText()) {
            case "vector", "matrix" -> result.size();
            default -> result.isMissingNode() || result.isNull() ? 0 : 1;
        };
    }

    /** GET a path of the HTTP API; the body (any status). */
    String get(String pathAndQuery) {
        try {
            return http.send(HttpRequest.newBuilder(URI.create(url + pathAndQuery)).timeout(Duration.ofSeconds(20))
                    .build(), HttpResponse.BodyHandlers.ofString()).body();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    @Override
    public void close() {
        process.stop(Duration.ofSeconds(10));
        http.close();
    }
}
