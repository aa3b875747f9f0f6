package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.bench.ConversationWorkload;
import dev.tandem.bench.Session;
import dev.tandem.bench.Step;
import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.frontend.LocalModel;
import dev.tandem.frontend.text.TextModel;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code tandem bench serve} against a real {@code tandem serve} (stories260K, one worker) for a
 * few seconds: the report has its fields, and the conversations workload's hit rate is exactly
 * what the prompts' overlap implies. With max_tokens 1 a request computes exactly its prompt, so
 * the worker's cache holds every full 16-token block of every earlier prompt and nothing else;
 * a request's cached tokens are then its leading blocks found there (at most (length - 1) / 16
 * of them: the last prompt token is always computed), times 16.
 */
@Timeout(180)
class ServeBenchEndToEndTest {
    private static final int BLOCK_TOKENS = 16;
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Path modelFile() {
        String prop = System.getProperty("tandem.test.models");
        Path dir = prop != null && Files.isDirectory(Path.of(prop)) ? Path.of(prop) : Path.of("/work/main/../shared/models");
        return dir.resolve("stories260K.gguf");
    }

    @Test
    void benchServe_conversationsOnOneWorker_hitRateIsWhatThePromptsOverlapImplies(@TempDir Path dir) throws Exception {
        ServeCommand serve = new ServeCommand();
        new CommandLine(serve).parseArgs("--model", modelFile().toString(), "--port", "0", "--workers", "1",
                "--kv-blocks", "1024", "--threads", "1", "--block-size", Integer.toString(BLOCK_TOKENS));
        Thread server = Thread.ofPlatform().name("serve-under-test").start(() -> {
            try {
                serve.call();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> serve.running != null);
            String url = serve.running.url();
            CommandLine cli = Main.newCommandLine();
            StringWriter out = new StringWriter();
            StringWriter err = new StringWriter();
            cli.setOut(new PrintWriter(out));
            cli.setErr(new PrintWriter(err));
            int exit = cli.execute("bench", "serve", "--url", url, "--workload", "conversations", "--conversations", "3",
                    "--turns", "4", "--user-words", "12", "--max-tokens", "1", "--concurrency", "2", "--seed", "4",
                    "--ttft-slo-ms", "60000", "--json", "--quiet", "--out", dir.toString());
            assertThat(exit).as(err.toString()).isZero();

            JsonNode summary = JSON.readTree(out.toString());
            assertThat(summary.path("model").asText()).isEqualTo("stories260K");
            assertThat(summary.path("simulated").asBoolean()).isFalse();
            assertThat(summary.path("machine").path("cores").asInt()).isPositive();
            assertThat(summary.path("git_commit").asText()).isNotBlank();
            JsonNode run = summary.path("runs").path(0);
            assertThat(run.path("requests").asInt()).isEqualTo(12);
            assertThat(run.path("succeeded").asInt()).isEqualTo(12);
            assertThat(run.path("output_tokens").asInt()).isEqualTo(12);
            assertThat(run.path("ttft_ms").path("p50").asDouble()).isPositive();
            assertThat(run.path("e2e_ms").path("p99").asDouble()).isGreaterThanOrEqualTo(
                    run.path("ttft_ms").path("p99").asDouble() * 0.5);
            assertThat(run.path("goodput").asDouble()).isPositive();
            for (String f : List.of("report.md", "summary.json", "ttft_cdf.png", "e2e_cdf.png", "hit_rate.png")) {
                assertThat(dir.resolve(f)).isNotEmptyFile();
            }

            // rebuild every prompt the server saw: the workload's user messages and the replies it gave
            List<JsonNode> rows = new ArrayList<>();
            for (String line : Files.readAllLines(dir.resolve("requests.jsonl"))) {
                rows.add(JSON.readTree(line));
            }
            rows.sort(Comparator.comparingDouble(r -> r.path("start_ms").asDouble()));
            Map<String, String> replies = new HashMap<>();
            rows.forEach(r -> replies.put(r.path("session").asInt() + ":" + r.path("turn").asInt(),
                    r.path("reply").asText()));
            List<Session> sessions = new ConversationWorkload(3, 4, 12, 0, 1, 4).sessions();
            Set<List<Integer>> cachedPrefixes = new HashSet<>();
            // each session's previous prompt: its partly filled last block stays as a tail, which the
            // session's next turn (sent after it finished) takes over; with 1-token replies, the
            // computed tokens of a turn are exactly its prompt
            Map<Integer, int[]> previousPrompt = new HashMap<>();
            long expectedCached = 0;
            long promptTokens = 0;
            try (LocalModel model = LocalModel.open(modelFile(), null)) {
                TextModel text = model.served().text();
                for (JsonNode r : rows) {
                    int session = r.path("session").asInt();
                    int turn = r.path("turn").asInt();
                    List<ChatMessage> messages = new ArrayList<>();
                    for (int t = 0; t <= turn; t++) {
                        messages.add(new ChatMessage("user", ((Step.UserTurn) sessions.get(session).steps().get(t)).text()));
                        if (t < turn) {
                            messages.add(new ChatMessage("assistant", replies.get(session + ":" + t)));
                        }
                    }
                    int[] prompt = text.encodeChat(messages);
                    int hits = 0;
                    while (hits < (prompt.length - 1) / BLOCK_TOKENS
                            && cachedPrefixes.contains(prefix(prompt, (hits + 1) * BLOCK_TOKENS))) {
                        hits++;
                    }
                    for (int b = 1; b * BLOCK_TOKENS <= prompt.length; b++) {
                        cachedPrefixes.add(prefix(prompt, b * BLOCK_TOKENS));
                    }
                    int[] previous = previousPrompt.put(session, prompt);
                    assertThat(prompt.length).as("prompts span a block, so no two sessions share a tail")
                            .isGreaterThan(BLOCK_TOKENS);
                    int expected = hits * BLOCK_TOKENS;
                    if (previous != null && previous.length < prompt.length
                            && Arrays.equals(previous, Arrays.copyOf(prompt, previous.length))) {
                        expected = Math.max(expected, Math.min(previous.length, prompt.length - 1));
                    }
                    assertThat(r.path("prompt_tokens").asInt()).as("prompt of %d:%d", session, turn)
                            .isEqualTo(prompt.length);
                    assertThat(r.path("cached_tokens").asInt()).as("cached tokens of %d:%d", session, turn)
                            .isEqualTo(expected);
                    expectedCached += expected;
                    promptTokens += prompt.length;
                }
            }
            assertThat(expectedCached).as("later turns reuse their history").isGreaterThan(promptTokens / 3);
            assertThat(run.path("cached_tokens").asLong()).isEqualTo(expectedCached);
            assertThat(run.path("cache_hit_rate").asDouble()).isCloseTo((double) expectedCached / promptTokens,
                    within(1e-4));
        } finally {
            serve.stop.countDown();
            server.join(Duration.ofSeconds(30));
        }
    }

    private static List<Integer> prefix(int[] tokens, int length) {
        return Arrays.stream(tokens, 0, length).boxed().toList();
    }
}
