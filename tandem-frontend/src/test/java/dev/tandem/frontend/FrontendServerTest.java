package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.engine.tokenizer.ChatMessage;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Every endpoint over real HTTP, with two real engines on stories260K behind the frontend. */
@Timeout(120)
class FrontendServerTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final String COMPLETIONS = "/v1/completions";
    private static Harness h;

    @BeforeAll
    static void start() {
        h = Harness.stories(2);
    }

    @AfterAll
    static void stop() {
        h.close();
    }

    @Test
    void chat_nonStreamed_openAiShapeWithUsage() throws Exception {
        HttpResponse<String> r = h.post(CHAT, """
                {"model": "stories260K", "messages": [{"role": "user", "content": "Once upon a time"}],
                 "max_tokens": 9, "temperature": 0}""");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        JsonNode j = Harness.json(r.body());
        assertThat(j.get("id").asText()).startsWith("chatcmpl-");
        assertThat(j.get("object").asText()).isEqualTo("chat.completion");
        assertThat(j.get("model").asText()).isEqualTo("stories260K");
        assertThat(j.get("created").asLong()).isGreaterThan(1_600_000_000L);
        JsonNode choice = j.get("choices").get(0);
        assertThat(choice.get("index").asInt()).isZero();
        assertThat(choice.get("message").get("role").asText()).isEqualTo("assistant");
        assertThat(choice.get("message").get("content").asText()).isNotBlank();
        assertThat(choice.get("logprobs").isNull()).isTrue();
        assertThat(choice.get("finish_reason").asText()).isEqualTo("length");
        int promptTokens = h.served().text().encodeChat(List.of(new ChatMessage("user", "Once upon a time"))).length;
        JsonNode usage = j.get("usage");
        assertThat(usage.get("prompt_tokens").asInt()).isEqualTo(promptTokens);
        assertThat(usage.get("completion_tokens").asInt()).isEqualTo(9);
        assertThat(usage.get("total_tokens").asInt()).isEqualTo(promptTokens + 9);
        assertThat(usage.get("prompt_tokens_details").get("cached_tokens").asInt()).isZero();
    }

    @Test
    void completions_streamed_sseFramesThenUsageThenDone() throws Exception {
        HttpResponse<String> r = h.post(COMPLETIONS, """
                {"prompt": "The little dog", "max_tokens": 12, "temperature": 0,
                 "stream": true, "stream_options": {"include_usage": true}}""");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type").orElse("")).startsWith("text/event-stream");
        assertThat(r.body()).endsWith("data: [DONE]\n\n");
        List<String> events = Harness.events(r.body());
        String finish = null;
        for (String e : events.subList(0, events.size() - 2)) {
            JsonNode chunk = Harness.json(e);
            assertThat(chunk.get("object").asText()).isEqualTo("text_completion");
            assertThat(chunk.get("usage").isNull()).isTrue();
            JsonNode c = chunk.get("choices").get(0);
            if (!c.get("finish_reason").isNull()) {
                finish = c.get("finish_reason").asText();
            }
        }
        assertThat(finish).isEqualTo("length");
        JsonNode usageChunk = Harness.json(events.get(events.size() - 2));
        assertThat(usageChunk.get("choices")).isEmpty();
        assertThat(usageChunk.get("usage").get("completion_tokens").asInt()).isEqualTo(12);
        assertThat(usageChunk.get("usage").get("prompt_tokens").asInt())
                .isEqualTo(h.served().text().encodePrompt("The little dog").length);
        JsonNode whole = h.postJson(COMPLETIONS, "{\"prompt\": \"The little dog\", \"max_tokens\": 12, \"temperature\": 0}");
        assertThat(Harness.streamedText(r.body())).isEqualTo(whole.get("choices").get(0).get("text").asText());
    }

    @Test
    void chat_sameSeed_streamedAndWholeGiveSameText() throws Exception {
        String base = """
                {"messages": [{"role": "user", "content": "Lily wanted to"}], "temperature": 0.9, "seed": 1234,
                 "max_tokens": 80""";

        JsonNode whole = h.postJson(CHAT, base + "}");
        HttpResponse<String> streamed = h.post(CHAT, base + ", \"stream\": true}");
        JsonNode otherSeed = h.postJson(CHAT, base.replace("1234", "999") + "}");

        String wholeText = whole.get("choices").get(0).get("message").get("content").asText();
        List<String> events = Harness.events(streamed.body());
        JsonNode firstDelta = Harness.json(events.getFirst()).get("choices").get(0).get("delta");
        assertThat(firstDelta.get("role").asText()).isEqualTo("assistant");
        assertThat(wholeText).isNotBlank();
        assertThat(Harness.streamedText(streamed.body())).isEqualTo(wholeText);
        assertThat(otherSeed.get("choices").get(0).get("message").get("content").asText()).isNotEqualTo(wholeText);
    }

    @Test
    void stopString_spanningTokenBoundary_cutBeforeItInBothModes() throws Exception {
        String base = "{\"prompt\": \"Once upon a time\", \"temperature\": 0, \"max_tokens\": 60";
        JsonNode free = h.postJson(COMPLETIONS, base + ", \"logprobs\": 0}");
        String text = free.get("choices").get(0).get("text").asText();
        JsonNode offsets = free.get("choices").get(0).get("logprobs").get("text_offset");
        // a stop string made of the last two characters of one token and the first two of the next
        int boundary = -1;
        for (int i = 5; i + 1 < offsets.size() && boundary < 0; i++) {
            int start = offsets.get(i).asInt();
            int next = offsets.get(i + 1).asInt();
            int after = i + 2 < offsets.size() ? offsets.get(i + 2).asInt() : text.length();
            if (next - start >= 2 && after - next >= 2) {
                boundary = next;
            }
        }
        assertThat(boundary).as("a boundary between two multi-character tokens in %s", text).isPositive();
        String stop = text.substring(boundary - 2, boundary + 2);
        String expected = text.substring(0, text.indexOf(stop));

        JsonNode whole = h.postJson(COMPLETIONS, base + ", \"stop\": [\"zzzz\", " + Harness.JSON.writeValueAsString(stop)
                + "]}");
        HttpResponse<String> streamed = h.post(COMPLETIONS, base + ", \"stream\": true, \"stop\": "
                + Harness.JSON.writeValueAsString(stop) + "}");

        assertThat(whole.get("choices").get(0).get("text").asText()).isEqualTo(expected);
        assertThat(whole.get("choices").get(0).get("finish_reason").asText()).isEqualTo("stop");
        assertThat(whole.get("usage").get("completion_tokens").asInt()).isLessThan(60);
        assertThat(Harness.streamedText(streamed.body())).isEqualTo(expected);
        assertThat(streamed.body()).contains("\"finish_reason\":\"stop\"");
        await().atMost(Duration.ofSeconds(10)).until(() -> h.activeBlocks() == 0);
    }

    @Test
    void completions_repeatedPrompt_reportsCachedPromptTokens() throws Exception {
        String prompt = "Tom and Sue went to the park. They played with a ball and a red kite. Then it started to"
                + " rain, so they ran home to eat cake with mom.";
        String body = "{\"prompt\": \"" + prompt + "\", \"max_tokens\": 2, \"temperature\": 0}";
        int promptTokens = h.served().text().encodePrompt(prompt).length;

        // round-robin over two workers: the first two requests land on different workers
        JsonNode first = h.postJson(COMPLETIONS, body);
        h.postJson(COMPLETIONS, body);
        JsonNode third = h.postJson(COMPLETIONS, body);

        assertThat(promptTokens).isGreaterThan(32);
        assertThat(first.get("usage").get("prompt_tokens").asInt()).isEqualTo(promptTokens);
        assertThat(first.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt())
                .as("nothing of it computed before but a leading BOS, which an earlier short request may have left")
                .isLessThanOrEqualTo(1);
        int cached = third.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt();
        // the first request's full blocks and its partly computed last block: every token but the last
        assertThat(cached).isEqualTo(promptTokens - 1);
        String metrics = h.get("/metrics").body();
        assertThat(metrics).contains("tandem_frontend_actual_cached_tokens_total");
        // per worker, as vLLM and llama.cpp export: blocks by state, prefix-cache queries and hits (tokens)
        double hits = 0;
        double queries = 0;
        for (String w : List.of("w0", "w1")) {
            double free = sample(metrics, "tandem_frontend_worker_kv_blocks{state=\"free\",worker=\"" + w + "\"}");
            double cachedBlocks = sample(metrics, "tandem_frontend_worker_kv_blocks{state=\"cached\",worker=\"" + w + "\"}");
            double active = sample(metrics, "tandem_frontend_worker_kv_blocks{state=\"active\",worker=\"" + w + "\"}");
            assertThat(free + cachedBlocks + active).isEqualTo(Harness.KV_BLOCKS);
            assertThat(cachedBlocks).isPositive();
            hits += sample(metrics, "tandem_frontend_worker_prefix_cache_hits_total{worker=\"" + w + "\"}");
            queries += sample(metrics, "tandem_frontend_worker_prefix_cache_queries_total{worker=\"" + w + "\"}");
        }
        assertThat(hits).isGreaterThanOrEqualTo(cached);
        assertThat(queries).isGreaterThanOrEqualTo(3 * promptTokens);
    }

    /** The value of one sample line of a Prometheus text scrape. */
    private static double sample(String scrape, String series) {
        for (String line : scrape.split("\n")) {
            if (line.startsWith(series + " ")) {
                return Double.parseDouble(line.substring(series.length() + 1).trim());
            }
        }
        throw new AssertionError("no sample " + series + " in\n" + scrape);
    }

    @Test
    void completions_nAndPromptList_choicesIndexedAndSeededPerSample() throws Exception {
        JsonNode j = h.postJson(COMPLETIONS, """
                {"prompt": ["The cat", "A big tree"], "n": 3, "max_tokens": 8, "temperature": 1, "seed": 5}""");
        JsonNode single = h.postJson(COMPLETIONS, """
                {"prompt": "A big tree", "max_tokens": 8, "temperature": 1, "seed": 6}""");

        JsonNode choices = j.get("choices");
        assertThat(choices).hasSize(6);
        for (int i = 0; i < 6; i++) {
            assertThat(choices.get(i).get("index").asInt()).isEqualTo(i);
            assertThat(choices.get(i).get("finish_reason").asText()).isIn("length", "stop");
        }
        // prompt 1, sample 1 used seed 5 + 1
        assertThat(choices.get(4).get("text").asText()).isEqualTo(single.get("choices").get(0).get("text").asText());
        int prompts = h.served().text().encodePrompt("The cat").length
                + h.served().text().encodePrompt("A big tree").length;
        assertThat(j.get("usage").get("prompt_tokens").asInt()).isEqualTo(prompts);
    }

    @Test
    void chat_logprobs_chatFormatConsistentWithText() throws Exception {
        JsonNode j = h.postJson(CHAT, """
                {"messages": [{"role": "user", "content": "One day"}], "temperature": 0, "max_tokens": 6,
                 "logprobs": true, "top_logprobs": 3}""");

        JsonNode choice = j.get("choices").get(0);
        JsonNode content = choice.get("logprobs").get("content");
        assertThat(content).hasSize(6);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (JsonNode entry : content) {
            assertThat(entry.get("logprob").asDouble()).isLessThanOrEqualTo(0.0);
            JsonNode top = entry.get("top_logprobs");
            assertThat(top).hasSize(3);
            assertThat(top.get(0).get("logprob").asDouble()).isGreaterThanOrEqualTo(top.get(1).get("logprob").asDouble());
            // greedy: the chosen token is the most likely one
            assertThat(top.get(0).get("token").asText()).isEqualTo(entry.get("token").asText());
            for (JsonNode b : entry.get("bytes")) {
                bytes.write(b.asInt());
            }
        }
        assertThat(bytes.toString(StandardCharsets.UTF_8)).isEqualTo(choice.get("message").get("content").asText());
    }

    @Test
    void completions_logprobs_legacyFormatWithOffsets() throws Exception {
        JsonNode j = h.postJson(COMPLETIONS, """
                {"prompt": "One day", "temperature": 0, "max_tokens": 5, "logprobs": 2}""");

        JsonNode choice = j.get("choices").get(0);
        String text = choice.get("text").asText();
        JsonNode lp = choice.get("logprobs");
        assertThat(lp.get("tokens")).hasSize(5);
        assertThat(lp.get("token_logprobs")).hasSize(5);
        assertThat(lp.get("top_logprobs")).hasSize(5);
        assertThat(lp.get("top_logprobs").get(0).size()).isEqualTo(2);
        JsonNode offsets = lp.get("text_offset");
        assertThat(offsets.get(0).asInt()).isZero();
        for (int i = 0; i < 5; i++) {
            int end = i + 1 < 5 ? offsets.get(i + 1).asInt() : text.length();
            assertThat(text.substring(offsets.get(i).asInt(), end)).isEqualTo(lp.get("tokens").get(i).asText());
        }
    }

    @Test
    void models_health_ready_metrics() throws Exception {
        JsonNode models = Harness.json(h.get("/v1/models").body());
        assertThat(models.get("object").asText()).isEqualTo("list");
        assertThat(models.get("data").get(0).get("id").asText()).isEqualTo("stories260K");
        assertThat(models.get("data").get(0).get("object").asText()).isEqualTo("model");
        assertThat(h.get("/health").statusCode()).isEqualTo(200);
        assertThat(h.get("/ready").statusCode()).isEqualTo(200);
        h.postJson(COMPLETIONS, "{\"prompt\": \"a\", \"max_tokens\": 2, \"temperature\": 0}");

        HttpResponse<String> metrics = h.get("/metrics");
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.headers().firstValue("content-type").orElse("")).startsWith("text/plain");
        assertThat(metrics.body())
                .containsPattern("tandem_frontend_requests_total\\{endpoint=\"completions\",status=\"200\"} \\d+")
                .contains("tandem_frontend_time_to_first_token_seconds_count")
                .contains("tandem_frontend_inter_token_latency_seconds_count")
                .contains("tandem_frontend_request_duration_seconds_bucket{endpoint=\"completions\"")
                .contains("tandem_frontend_input_tokens_count")
                .contains("tandem_frontend_output_tokens_sum")
                .contains("tandem_frontend_cached_tokens_count")
                .contains("tandem_frontend_predicted_cached_tokens_total")
                .contains("tandem_frontend_worker_kv_usage{worker=\"w0\"}")
                .contains("tandem_frontend_worker_kv_usage{worker=\"w1\"}")
                .contains("tandem_frontend_worker_prefix_hit_rate{worker=\"w1\"}")
                .contains("tandem_frontend_requests_in_flight")
                .contains("tandem_frontend_requests_queued 0");
    }

    @Test
    void concurrentRequests_allServedWithoutCrossTalk() throws Exception {
        List<String> prompts = List.of("The sun", "A small bird", "Ben had a", "Once there was", "The car");
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<HttpResponse<String>>> futures = new ArrayList<>();
            for (int i = 0; i < 24; i++) {
                String prompt = prompts.get(i % prompts.size());
                boolean stream = i % 2 == 0;
                futures.add(pool.submit(() -> h.post(CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \""
                        + prompt + "\"}], \"max_tokens\": 16, \"temperature\": 0, \"logprobs\": true, \"stream\": "
                        + stream + "}")));
            }
            for (int i = 0; i < futures.size(); i++) {
                HttpResponse<String> r = futures.get(i).get();
                assertThat(r.statusCode()).isEqualTo(200);
                String text;
                ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                if (i % 2 == 0) {
                    text = Harness.streamedText(r.body());
                    for (String e : Harness.events(r.body()).subList(0, Harness.events(r.body()).size() - 1)) {
                        JsonNode lp = Harness.json(e).get("choices").get(0).get("logprobs");
                        collectBytes(lp, bytes);
                    }
                } else {
                    JsonNode c = Harness.json(r.body()).get("choices").get(0);
                    text = c.get("message").get("content").asText();
                    collectBytes(c.get("logprobs"), bytes);
                }
                // each response's text is exactly the bytes of its own tokens
                assertThat(bytes.toString(StandardCharsets.UTF_8)).isEqualTo(text);
            }
        }
        assertThat(h.engine(0).submitted.get()).isPositive();
        assertThat(h.engine(1).submitted.get()).isPositive();
        await().atMost(Duration.ofSeconds(10)).until(() -> h.activeBlocks() == 0);
    }

    private static void collectBytes(JsonNode logprobs, ByteArrayOutputStream out) {
        if (logprobs == null || logprobs.isNull()) {
            return;
        }
        for (JsonNode entry : logprobs.get("content")) {
            for (JsonNode b : entry.get("bytes")) {
                out.write(b.asInt());
            }
        }
    }
}
