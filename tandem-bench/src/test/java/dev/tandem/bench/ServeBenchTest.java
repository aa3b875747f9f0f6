package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * bench serve end to end against a fake server that counts prompt "tokens" as characters and
 * reports as cached the characters of the longest prefix, in whole 8-character blocks, that an
 * earlier prompt shared: the hit rate the report states must be the one those prompts imply.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ServeBenchTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BLOCK = 8;

    /** Prompt text of a chat body: its messages' contents joined. */
    private static String promptText(String body) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (JsonNode m : JSON.readTree(body).path("messages")) {
            sb.append(m.path("role").asText()).append(':').append(m.path("content").asText()).append('\n');
        }
        return sb.toString();
    }

    private static int cachedChars(String prompt, Set<String> seenBlocks) {
        int cached = 0;
        for (int end = BLOCK; end <= prompt.length(); end += BLOCK) {
            if (!seenBlocks.contains(prompt.substring(0, end))) {
                break;
            }
            cached = end;
        }
        return cached;
    }

    private static void remember(String prompt, Set<String> seenBlocks) {
        for (int end = BLOCK; end <= prompt.length(); end += BLOCK) {
            seenBlocks.add(prompt.substring(0, end));
        }
    }

    @Test
    void run_conversationsAgainstPrefixCachingFake_reportStatesTheImpliedHitRate(@TempDir Path dir) throws Exception {
        Set<String> seen = ConcurrentHashMap.newKeySet();
        AtomicInteger replies = new AtomicInteger();
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> {
            String prompt = promptText(body);
            int cached = cachedChars(prompt, seen);
            remember(prompt, seen);
            String reply = "r" + replies.incrementAndGet();
            FakeOpenAiServer.sse(ex, 2, List.of(FakeOpenAiServer.delta(reply), FakeOpenAiServer.delta("!"),
                    FakeOpenAiServer.usage(prompt.length(), 2, cached), "[DONE]"));
        })) {
            ConversationWorkload w = new ConversationWorkload(3, 4, 6, 0, 8, 5);
            ServeBench.Settings settings = new ServeBench.Settings(server.url(), null, w,
                    List.of(new ArrivalMode.Concurrency(1)), new LoadSettings(0, 0, false, new Slo(10_000, 10_000),
                    Duration.ofSeconds(10), null, true, 0), false, "tandem bench serve --url " + server.url());
            BenchReport report = ServeBench.run(settings, new PrintStream(new ByteArrayOutputStream()));

            // the hit rate implied by the prompts the client actually sent, in the order it sent them
            Set<String> replay = new java.util.HashSet<>();
            long cached = 0;
            long total = 0;
            for (String body : server.bodies) {
                String prompt = promptText(body);
                cached += cachedChars(prompt, replay);
                total += prompt.length();
                remember(prompt, replay);
            }
            RunSummary s = report.runs().getFirst().summary();
            assertThat(report.model()).isEqualTo("fake-model");
            assertThat(s.requests()).isEqualTo(12);
            assertThat(s.succeeded()).isEqualTo(12);
            assertThat(s.promptTokens()).isEqualTo(total);
            assertThat(s.cachedTokens()).isEqualTo(cached);
            assertThat(s.cacheHitRate()).isCloseTo((double) cached / total, within(1e-12));
            assertThat(s.cacheHitRate()).as("later turns resend their history").isGreaterThan(0.4);
            assertThat(s.goodFraction()).isEqualTo(1.0);

            List<Charts.ChartFile> charts = ReportFiles.write(report, dir);
            JsonNode summary = JSON.readTree(dir.resolve("summary.json").toFile());
            assertThat(summary.path("command").asText()).startsWith("tandem bench serve --url");
            assertThat(summary.path("machine").path("cores").asInt()).isEqualTo(Runtime.getRuntime().availableProcessors());
            assertThat(summary.path("machine").path("cpu").asText()).isNotBlank();
            assertThat(summary.path("java").asText()).startsWith(Runtime.version().toString());
            assertThat(summary.path("git_commit").asText()).isNotBlank();
            assertThat(summary.path("simulated").asBoolean()).isFalse();
            JsonNode run = summary.path("runs").path(0);
            assertThat(run.path("concurrency").asInt()).isEqualTo(1);
            assertThat(run.path("requests").asInt()).isEqualTo(12);
            assertThat(run.path("cache_hit_rate").asDouble()).isCloseTo((double) cached / total, within(1e-4));
            for (String metric : List.of("ttft_ms", "itl_ms", "tpot_ms", "e2e_ms")) {
                for (String field : List.of("mean", "p50", "p90", "p95", "p99")) {
                    assertThat(run.path(metric).path(field).isNumber()).as(metric + "." + field).isTrue();
                }
            }
            assertThat(run.path("request_throughput").asDouble()).isPositive();
            assertThat(run.path("output_throughput").asDouble()).isPositive();
            assertThat(run.path("goodput").asDouble()).isPositive();
            assertThat(run.path("errors").size()).isZero();

            String md = Files.readString(dir.resolve("report.md"));
            assertThat(md).contains("tandem bench serve --url", report.info().machine(), report.info().gitCommit(),
                    Runtime.version().toString(), "| c=1 | 12 / 12 |", "ttft_cdf.png");
            assertThat(charts).extracting(Charts.ChartFile::fileName)
                    .containsExactly("ttft_cdf.png", "itl_cdf.png", "e2e_cdf.png", "hit_rate.png");
            for (Charts.ChartFile c : charts) {
                byte[] png = Files.readAllBytes(dir.resolve(c.fileName()));
                assertThat(png).hasSizeGreaterThan(1000);
                assertThat(new String(png, 1, 3, StandardCharsets.US_ASCII)).isEqualTo("PNG");
            }
            assertThat(Files.readAllLines(dir.resolve("requests.jsonl"))).hasSize(12);
        }
    }

    @Test
    void run_sweep_oneRunPerConcurrencyWithFreshPromptsAndAThroughputChart(@TempDir Path dir) throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> FakeOpenAiServer.sse(ex, 1,
                List.of(FakeOpenAiServer.delta("a"), FakeOpenAiServer.delta("b"), FakeOpenAiServer.usage(10, 2, 0),
                        "[DONE]")))) {
            SharedPrefixWorkload w = new SharedPrefixWorkload(2, 3, 10, 3, 4, 1);
            ServeBench.Settings settings = new ServeBench.Settings(server.url(), "mock-model", w,
                    List.of(new ArrivalMode.Concurrency(1), new ArrivalMode.Concurrency(3)),
                    new LoadSettings(0, 0, false, Slo.NONE, Duration.ofSeconds(10), null, true, 0), false,
                    "tandem bench serve");
            BenchReport report = ServeBench.run(settings, new PrintStream(new ByteArrayOutputStream()));
            assertThat(report.runs()).extracting(RunRecord::label).containsExactly("c=1", "c=3");
            assertThat(report.simulated()).as("mock* models are labelled as simulations").isTrue();
            List<String> bodies = List.copyOf(server.bodies);
            assertThat(bodies).hasSize(12);
            assertThat(bodies.subList(0, 6)).doesNotContainAnyElementsOf(bodies.subList(6, 12));
            List<Charts.ChartFile> charts = ReportFiles.write(report, dir);
            assertThat(charts).extracting(Charts.ChartFile::fileName).contains("throughput_vs_concurrency.png");
            assertThat(Files.readString(dir.resolve("report.md"))).contains(BenchReport.SIMULATION_BANNER);
            assertThat(JsonReport.toJson(report)).contains("\"simulated\" : true");
        }
    }

    @Test
    void run_warmup_sentFirstAndLeftOutOfTheFigures() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> FakeOpenAiServer.sse(ex, 0,
                List.of(FakeOpenAiServer.delta("a"), FakeOpenAiServer.usage(10, 1, 0), "[DONE]")))) {
            ConversationWorkload w = new ConversationWorkload(2, 2, 4, 0, 4, 3);
            ServeBench.Settings settings = new ServeBench.Settings(server.url(), "m", w,
                    List.of(new ArrivalMode.Concurrency(2)),
                    new LoadSettings(0, 0, false, Slo.NONE, Duration.ofSeconds(10), null, true, 3), false, "x");
            BenchReport report = ServeBench.run(settings, new PrintStream(new ByteArrayOutputStream()));
            assertThat(report.runs().getFirst().summary().requests()).isEqualTo(4);
            List<String> bodies = List.copyOf(server.bodies);
            assertThat(bodies).hasSize(7);
            Set<String> workloadWords = new java.util.HashSet<>();
            for (Session s : w.sessions()) {
                s.steps().forEach(step -> workloadWords.add(((Step.UserTurn) step).text()));
            }
            for (String warm : bodies.subList(0, 3)) {
                String user = JSON.readTree(warm).path("messages").path(0).path("content").asText();
                assertThat(workloadWords).doesNotContain(user);
            }
            assertThat(report.notes()).anySatisfy(n -> assertThat(n).contains("3 unmeasured warm-up requests"));
        }
    }
}
