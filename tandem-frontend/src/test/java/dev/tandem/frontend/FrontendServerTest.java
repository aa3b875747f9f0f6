package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class FrontendServerTest {
    private Harness h;

    @AfterEach
    void stop() {
        if (h != null) {
            h.close();
        }
    }

    @Test
    void chat_nonStreamed_returnsOpenAiShapeWithUsage() throws Exception {
        h = new Harness(1);

        HttpResponse<String> r = h.post("/v1/chat/completions", """
                {"model": "test-model", "messages": [{"role": "user", "content": "Hi"}],
                 "max_tokens": 9, "temperature": 0}""");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValue("application/json");
        JsonNode j = Harness.json(r.body());
        assertThat(j.get("id").asText()).startsWith("chatcmpl-");
        assertThat(j.get("object").asText()).isEqualTo("chat.completion");
        assertThat(j.get("model").asText()).isEqualTo("test-model");
        assertThat(j.get("created").asLong()).isPositive();
        JsonNode choice = j.get("choices").get(0);
        assertThat(choice.get("index").asInt()).isZero();
        assertThat(choice.get("message").get("role").asText()).isEqualTo("assistant");
        assertThat(choice.get("message").get("content").asText()).isEqualTo("Once upon");
        assertThat(choice.get("finish_reason").asText()).isEqualTo("length");
        int promptTokens = new ByteTextModel().encodeChat(
                List.of(new dev.tandem.frontend.text.ChatMessage("user", "Hi"))).length;
        JsonNode usage = j.get("usage");
        assertThat(usage.get("prompt_tokens").asInt()).isEqualTo(promptTokens);
        assertThat(usage.get("completion_tokens").asInt()).isEqualTo(9);
        assertThat(usage.get("total_tokens").asInt()).isEqualTo(promptTokens + 9);
        assertThat(usage.get("prompt_tokens_details").get("cached_tokens").asInt()).isZero();
    }

    @Test
    void completions_streamed_framesAreSseWithDoneAndUsageChunk() throws Exception {
        h = new Harness(1);

        HttpResponse<String> r = h.post("/v1/completions", """
                {"model": "test-model", "prompt": "Say", "max_tokens": 4, "temperature": 0,
                 "stream": true, "stream_options": {"include_usage": true}}""");

        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type").orElse("")).startsWith("text/event-stream");
        assertThat(r.body()).endsWith("data: [DONE]\n\n");
        List<String> events = Harness.events(r.body());
        assertThat(events.getLast()).isEqualTo("[DONE]");
        StringBuilder text = new StringBuilder();
        String finish = null;
        for (String e : events.subList(0, events.size() - 2)) {
            JsonNode chunk = Harness.json(e);
            assertThat(chunk.get("object").asText()).isEqualTo("text_completion");
            assertThat(chunk.has("usage")).isTrue();
            assertThat(chunk.get("usage").isNull()).isTrue();
            JsonNode c = chunk.get("choices").get(0);
            text.append(c.get("text").asText());
            if (!c.get("finish_reason").isNull()) {
                finish = c.get("finish_reason").asText();
            }
        }
        assertThat(text.toString()).isEqualTo("Once");
        assertThat(finish).isEqualTo("length");
        JsonNode usageChunk = Harness.json(events.get(events.size() - 2));
        assertThat(usageChunk.get("choices")).isEmpty();
        assertThat(usageChunk.get("usage").get("completion_tokens").asInt()).isEqualTo(4);
        assertThat(usageChunk.get("usage").get("prompt_tokens").asInt()).isEqualTo(4);
    }

    @Test
    void chat_sameSeed_streamedAndWholeGiveSameText() throws Exception {
        h = new Harness(1);
        String base = """
                {"messages": [{"role": "user", "content": "Tell me"}], "temperature": 0.8, "seed": 1234,
                 "max_tokens": 200""";

        JsonNode whole = Harness.json(h.post("/v1/chat/completions", base + "}").body());
        HttpResponse<String> streamed = h.post("/v1/chat/completions", base + ", \"stream\": true}");

        String wholeText = whole.get("choices").get(0).get("message").get("content").asText();
        StringBuilder streamedText = new StringBuilder();
        List<String> events = Harness.events(streamed.body());
        JsonNode first = Harness.json(events.getFirst()).get("choices").get(0).get("delta");
        assertThat(first.get("role").asText()).isEqualTo("assistant");
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode delta = Harness.json(e).get("choices").get(0).get("delta");
            if (delta.has("content")) {
                streamedText.append(delta.get("content").asText());
            }
        }
        assertThat(wholeText).isNotEmpty();
        assertThat(streamedText.toString()).isEqualTo(wholeText);
        // the seeded script mixes multi-byte characters split across byte tokens
        assertThat(wholeText).doesNotContain("\uFFFD");
        assertThat(wholeText.codePoints().anyMatch(cp -> cp > 0x7F)).isTrue();
    }

    @Test
    void chat_stopStringSpanningTokens_cutBeforeStopAndSequenceCancelled() throws Exception {
        h = new Harness(1);

        JsonNode j = Harness.json(h.post("/v1/chat/completions", """
                {"messages": [{"role": "user", "content": "Go"}], "temperature": 0, "max_tokens": 500,
                 "stop": ["tiny cat", "zzz"]}""").body());

        JsonNode choice = j.get("choices").get(0);
        assertThat(choice.get("message").get("content").asText()).isEqualTo("Once upon a time, a ");
        assertThat(choice.get("finish_reason").asText()).isEqualTo("stop");
        // tokens up to and including the one that completed "tiny cat"
        assertThat(j.get("usage").get("completion_tokens").asInt()).isEqualTo("Once upon a time, a tiny cat".length());
        await().atMost(Duration.ofSeconds(10)).until(() -> h.engine(0).activeSequences() == 0);
        assertThat(h.engine(0).freeBlocks()).isEqualTo(256);
    }

    @Test
    void chat_streamedStop_holdsBackOnlyPossiblePrefix() throws Exception {
        h = new Harness(1);

        HttpResponse<String> r = h.post("/v1/chat/completions", """
                {"messages": [{"role": "user", "content": "Go"}], "temperature": 0, "max_tokens": 500,
                 "stop": "ball", "stream": true}""");

        StringBuilder text = new StringBuilder();
        String finish = null;
        List<String> events = Harness.events(r.body());
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode c = Harness.json(e).get("choices").get(0);
            if (c.get("delta").has("content")) {
                text.append(c.get("delta").get("content").asText());
            }
            if (!c.get("finish_reason").isNull()) {
                finish = c.get("finish_reason").asText();
            }
        }
        assertThat(text.toString()).isEqualTo("Once upon a time, a tiny cat found a ");
        assertThat(finish).isEqualTo("stop");
        // "b" of "ball" waited, while the "b"-free text before it streamed token by token
        assertThat(events.size()).isGreaterThan(10);
    }

    @Test
    void completions_repeatedPrompt_reportsCachedTokens() throws Exception {
        h = new Harness(1);
        String prompt = "x".repeat(100);
        String body = "{\"prompt\": \"" + prompt + "\", \"max_tokens\": 2, \"temperature\": 0}";

        JsonNode first = Harness.json(h.post("/v1/completions", body).body());
        JsonNode second = Harness.json(h.post("/v1/completions", body).body());

        assertThat(first.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt()).isZero();
        // 101 prompt tokens (BOS + 100 bytes): 6 full blocks of 16 are cached the second time
        assertThat(second.get("usage").get("prompt_tokens").asInt()).isEqualTo(101);
        assertThat(second.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt()).isEqualTo(96);
    }

    @Test
    void completions_nAndPromptList_indexesChoicesPerPrompt() throws Exception {
        h = new Harness(1);

        JsonNode j = Harness.json(h.post("/v1/completions", """
                {"prompt": ["a", "bb"], "n": 3, "max_tokens": 5, "temperature": 1, "seed": 5}""").body());

        JsonNode choices = j.get("choices");
        assertThat(choices).hasSize(6);
        for (int i = 0; i < 6; i++) {
            assertThat(choices.get(i).get("index").asInt()).isEqualTo(i);
        }
        // same seed per sample index: choice 0 of both prompts follows seed 5, choice 1 seed 6
        assertThat(choices.get(0).get("text").asText()).isEqualTo(choices.get(3).get("text").asText());
        assertThat(choices.get(1).get("text").asText()).isNotEqualTo(choices.get(0).get("text").asText());
        assertThat(j.get("usage").get("prompt_tokens").asInt()).isEqualTo(2 + 3);
    }

    @Test
    void chat_logprobs_chatFormatWithTopAlternatives() throws Exception {
        h = new Harness(1);

        JsonNode j = Harness.json(h.post("/v1/chat/completions", """
                {"messages": [{"role": "user", "content": "Go"}], "temperature": 0, "max_tokens": 3,
                 "logprobs": true, "top_logprobs": 2}""").body());

        JsonNode content = j.get("choices").get(0).get("logprobs").get("content");
        assertThat(content).hasSize(3);
        assertThat(content.get(0).get("token").asText()).isEqualTo("O");
        assertThat(content.get(0).get("logprob").asDouble()).isEqualTo(-0.25);
        assertThat(content.get(0).get("bytes").get(0).asInt()).isEqualTo('O');
        assertThat(content.get(0).get("top_logprobs")).hasSize(2);
        assertThat(content.get(0).get("top_logprobs").get(1).get("token").asText()).isEqualTo("b");
    }

    @Test
    void completions_logprobs_legacyFormatWithOffsets() throws Exception {
        h = new Harness(1);

        JsonNode j = Harness.json(h.post("/v1/completions", """
                {"prompt": "Go", "temperature": 0, "max_tokens": 3, "logprobs": 1}""").body());

        JsonNode lp = j.get("choices").get(0).get("logprobs");
        assertThat(lp.get("tokens")).hasSize(3);
        assertThat(lp.get("tokens").get(1).asText()).isEqualTo("n");
        assertThat(lp.get("token_logprobs").get(2).asDouble()).isEqualTo(-0.25);
        assertThat(lp.get("top_logprobs").get(0).get("O").asDouble()).isEqualTo(-0.25);
        assertThat(lp.get("text_offset").toString()).isEqualTo("[0,1,2]");
    }

    @Test
    void models_health_ready_metrics() throws Exception {
        h = new Harness(1);

        JsonNode models = Harness.json(h.get("/v1/models").body());
        assertThat(models.get("object").asText()).isEqualTo("list");
        assertThat(models.get("data").get(0).get("id").asText()).isEqualTo("test-model");
        assertThat(h.get("/health").statusCode()).isEqualTo(200);
        assertThat(h.get("/ready").statusCode()).isEqualTo(200);
        h.post("/v1/completions", "{\"prompt\": \"a\", \"max_tokens\": 2}");
        HttpResponse<String> metrics = h.get("/metrics");
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.body())
                .contains("tandem_frontend_requests_total{endpoint=\"completions\",status=\"200\"} 1")
                .contains("tandem_frontend_time_to_first_token_seconds_count 1")
                .contains("tandem_frontend_inter_token_latency_seconds_count 1")
                .contains("tandem_frontend_output_tokens_sum 2")
                .contains("tandem_frontend_worker_kv_usage{worker=\"w0\"}")
                .contains("tandem_frontend_worker_prefix_hit_rate{worker=\"w0\"}")
                .contains("tandem_frontend_requests_in_flight")
                .contains("tandem_frontend_requests_queued 0");
    }

    @Test
    void ready_noWorkerThenWorkerJoins_503Then200() throws Exception {
        h = new Harness(0);

        HttpResponse<String> notReady = h.get("/ready");
        HttpResponse<String> noWorker = h.post("/v1/completions", "{\"prompt\": \"a\"}");
        h.addWorker("late");

        assertThat(notReady.statusCode()).isEqualTo(503);
        assertThat(Harness.json(notReady.body()).get("error").get("type").asText()).isEqualTo("server_error");
        assertThat(noWorker.statusCode()).isEqualTo(503);
        assertThat(h.get("/ready").statusCode()).isEqualTo(200);
        assertThat(h.post("/v1/completions", "{\"prompt\": \"a\"}").statusCode()).isEqualTo(200);
    }

    @Test
    void concurrentRequests_allServedWithTheirOwnText() throws Exception {
        h = new Harness(2);
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<HttpResponse<String>>> futures = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                int maxTokens = 1 + i;
                boolean stream = i % 2 == 0;
                futures.add(pool.submit(() -> h.post("/v1/completions", "{\"prompt\": \"p\", \"temperature\": 0,"
                        + " \"max_tokens\": " + maxTokens + ", \"stream\": " + stream + "}")));
            }
            for (int i = 0; i < futures.size(); i++) {
                HttpResponse<String> r = futures.get(i).get();
                assertThat(r.statusCode()).isEqualTo(200);
                String text = i % 2 == 0 ? streamedText(r.body()) : Harness.json(r.body()).get("choices").get(0)
                        .get("text").asText();
                assertThat(text).isEqualTo(FakeEngine.GREEDY_TEXT.substring(0, 1 + i));
            }
        }
        assertThat(h.engine(0).submittedSequences()).isGreaterThan(0);
        assertThat(h.engine(1).submittedSequences()).isGreaterThan(0);
        await().atMost(Duration.ofSeconds(5)).until(() -> h.engine(0).freeBlocks() == 256
                && h.engine(1).freeBlocks() == 256);
    }

    static String streamedText(String body) throws Exception {
        StringBuilder sb = new StringBuilder();
        List<String> events = Harness.events(body);
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode c = Harness.json(e).get("choices").get(0);
            if (c.has("text")) {
                sb.append(c.get("text").asText());
            } else if (c.get("delta").has("content")) {
                sb.append(c.get("delta").get("content").asText());
            }
        }
        return sb.toString();
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
