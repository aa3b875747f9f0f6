package dev.tandem.bench;

import static dev.tandem.bench.FakeOpenAiServer.delta;
import static dev.tandem.bench.FakeOpenAiServer.sse;
import static dev.tandem.bench.FakeOpenAiServer.text;
import static dev.tandem.bench.FakeOpenAiServer.usage;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.ConfigException;
import dev.tandem.runtime.http.ClosingServer;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class StreamingClientTest {
    private static final long MS = 1_000_000L;
    private static final RequestOptions OPTIONS = new RequestOptions("fake-model", 0, 7, true);

    private static PreparedRequest chat(String user) {
        Session s = new Session(3, "be brief", List.of(new Step.UserTurn(user, 4)), 0);
        return new RequestFactory(OPTIONS).prepare(s, 0, List.of(), System.nanoTime());
    }

    private static PreparedRequest tokens() {
        TokenSpace space = new TokenSpace(3, 259, 4, 0);
        Session s = new Session(0, null, List.of(new Step.TokenCompletion(
                new TokenRecipe.Blocks(space, List.of(5L, 6L), 7), 3)), 0);
        return new RequestFactory(OPTIONS).prepare(s, 0, List.of(), System.nanoTime());
    }

    @Test
    void execute_streamedChatChunks_timedAndCounted() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> sse(ex, 40,
                List.of(delta(""), delta("Once"), delta(" upon"), delta(" a"), usage(20, 3, 16), "[DONE]")));
             StreamingClient client = new StreamingClient(server.url(), Duration.ofSeconds(10), null)) {
            RequestResult r = client.execute(chat("tell a story"));

            assertThat(r.ok()).as(String.valueOf(r.errorMessage())).isTrue();
            assertThat(r.httpStatus()).isEqualTo(200);
            assertThat(r.reply()).isEqualTo("Once upon a");
            assertThat(r.contentChunks()).isEqualTo(3);
            // the server slept 40 ms before each event: "Once" is the second event
            assertThat(r.ttftNs()).isGreaterThanOrEqualTo(80 * MS);
            assertThat(r.itlNs()).hasSize(2);
            assertThat(r.itlNs()[0] + r.itlNs()[1]).as("last text chunk >= 80 ms after the first")
                    .isGreaterThanOrEqualTo(75 * MS);
            assertThat(r.e2eNs()).isGreaterThanOrEqualTo(240 * MS);
            assertThat(r.promptTokens()).isEqualTo(20);
            assertThat(r.cachedTokens()).isEqualTo(16);
            assertThat(r.sessionId()).isEqualTo(3);

            JsonNode sent = new ObjectMapper().readTree(server.bodies.peek());
            assertThat(sent.path("model").asText()).isEqualTo("fake-model");
            assertThat(sent.path("stream").asBoolean()).isTrue();
            assertThat(sent.path("stream_options").path("include_usage").asBoolean()).isTrue();
            assertThat(sent.path("max_tokens").asInt()).isEqualTo(4);
            assertThat(sent.path("ignore_eos").asBoolean()).isTrue();
            assertThat(sent.path("messages").toString())
                    .isEqualTo("[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"tell a story\"}]");
        }
    }

    @Test
    void execute_tokenPrompt_sentAsIdArrayToCompletions() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> {
            if (!ex.getRequestURI().getPath().equals("/v1/completions")) {
                FakeOpenAiServer.json(ex, 404, "{}");
                return;
            }
            sse(ex, 0, List.of(text("x"), usage(7, 1, 0), "[DONE]"));
        });
             StreamingClient client = new StreamingClient(server.url() + "/v1/", Duration.ofSeconds(10), null)) {
            PreparedRequest request = tokens();
            RequestResult r = client.execute(request);
            assertThat(r.ok()).isTrue();
            JsonNode prompt = new ObjectMapper().readTree(server.bodies.peek()).path("prompt");
            assertThat(prompt.isArray()).isTrue();
            assertThat(prompt).hasSize(7);
            int[] expected = request.promptTokenIds();
            for (int i = 0; i < expected.length; i++) {
                assertThat(prompt.get(i).asInt()).isEqualTo(expected[i]);
            }
        }
    }

    @Test
    void execute_http429WithOpenAiError_errorTypeAndMessage() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> FakeOpenAiServer.json(ex, 429,
                "{\"error\":{\"message\":\"queue full\",\"type\":\"rate_limit_error\",\"param\":null,\"code\":null}}"));
             StreamingClient client = new StreamingClient(server.url(), Duration.ofSeconds(10), null)) {
            RequestResult r = client.execute(chat("hi"));
            assertThat(r.errorType()).isEqualTo("http_429");
            assertThat(r.errorMessage()).isEqualTo("queue full");
            assertThat(r.httpStatus()).isEqualTo(429);
        }
    }

    @Test
    void execute_streamStallsPastDeadline_timeoutWithinDeadline() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> {
            sse(ex, 0, List.of(delta("a")));
            Thread.sleep(20_000);
        });
             StreamingClient client = new StreamingClient(server.url(), Duration.ofMillis(400), null)) {
            long t0 = System.nanoTime();
            RequestResult r = client.execute(chat("hi"));
            assertThat(r.errorType()).isEqualTo(RequestResult.TIMEOUT);
            assertThat(r.reply()).isEmpty(); // a failed request's partial text is not kept
            assertThat(System.nanoTime() - t0).isLessThan(5_000 * MS);
        }
    }

    @Test
    void execute_noResponseHeaders_timeout() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> Thread.sleep(20_000));
             StreamingClient client = new StreamingClient(server.url(), Duration.ofMillis(300), null)) {
            RequestResult r = client.execute(chat("hi"));
            assertThat(r.errorType()).isEqualTo(RequestResult.TIMEOUT);
            assertThat(r.httpStatus()).isZero();
        }
    }

    @Test
    void execute_nothingListening_connectionError() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        try (StreamingClient client = new StreamingClient("http://127.0.0.1:" + port, Duration.ofSeconds(5), null)) {
            RequestResult r = client.execute(chat("hi"));
            assertThat(r.errorType()).isEqualTo(RequestResult.CONNECTION);
        }
    }

    @Test
    void execute_malformedChunk_protocolError() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> sse(ex, 0,
                List.of(delta("a"), "{\"choices\": [{\"delta\": ", "[DONE]")));
             StreamingClient client = new StreamingClient(server.url(), Duration.ofSeconds(10), null)) {
            RequestResult r = client.execute(chat("hi"));
            assertThat(r.errorType()).isEqualTo(RequestResult.PROTOCOL);
            assertThat(r.errorMessage()).contains("malformed chunk");
        }
    }

    @Test
    void execute_streamClosedWithoutDone_truncated() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> sse(ex, 0, List.of(delta("a"), delta("b"))));
             StreamingClient client = new StreamingClient(server.url(), Duration.ofSeconds(10), null)) {
            RequestResult r = client.execute(chat("hi"));
            assertThat(r.errorType()).isEqualTo(RequestResult.TRUNCATED);
        }
    }

    @Test
    void execute_garbageBytesAndHalfLines_protocolErrorNotAHang() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> {
            ex.getResponseHeaders().set("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            OutputStream out = ex.getResponseBody();
            out.write(new byte[] {'d', 'a', 't', 'a', ':', ' ', (byte) 0xff, (byte) 0xfe, '{', '\n', '\n'});
            out.write("data: {\"choices\":[{\"text\":\"never\"".getBytes(StandardCharsets.UTF_8));
        });
             StreamingClient client = new StreamingClient(server.url(), Duration.ofSeconds(10), null)) {
            RequestResult r = client.execute(chat("hi"));
            assertThat(r.errorType()).isEqualTo(RequestResult.PROTOCOL);
        }
    }

    @Test
    void execute_serverIgnoresStream_jsonBodyReadAsOneChunk() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> FakeOpenAiServer.json(ex, 200,
                "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hello\"}}],"
                        + "\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1}}"));
             StreamingClient client = new StreamingClient(server.url(), Duration.ofSeconds(10), null)) {
            RequestResult r = client.execute(chat("hi"));
            assertThat(r.ok()).isTrue();
            assertThat(r.reply()).isEqualTo("hello");
            assertThat(r.completionTokens()).isEqualTo(1);
        }
    }

    /**
     * llama-server closes a connection after every streamed answer without saying so: the next
     * request finds its pooled connection dead before any answer and goes again on a new one,
     * instead of counting as a failed request, and later requests ask the server to close.
     */
    @Test
    void execute_serverClosesEachConnectionAfterItsStream_everyRequestSucceeds() throws Exception {
        try (ClosingServer server = ClosingServer.start(Map.of("POST /v1/chat/completions",
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n"));
             StreamingClient client = new StreamingClient(server.url(), Duration.ofSeconds(10), null)) {
            for (int i = 0; i < 3; i++) {
                RequestResult r = client.execute(chat("hello " + i));
                assertThat(r.ok()).as("request %d: %s", i, r.errorMessage()).isTrue();
                assertThat(r.reply()).isEqualTo("hi");
            }
            assertThat(server.connections()).isEqualTo(3);
            // once seen, such a server is asked to close: no later request pays for a dead connection
            assertThat(server.askedToClose().getLast()).as("requests asked to close: %s", server.askedToClose())
                    .isTrue();
        }
    }

    @Test
    void models_listsIds() throws Exception {
        try (FakeOpenAiServer server = new FakeOpenAiServer((ex, body) -> { });
             StreamingClient client = new StreamingClient(server.url(), Duration.ofSeconds(10), null)) {
            assertThat(client.models(Duration.ofSeconds(5))).containsExactly("fake-model");
        }
    }

    @Test
    void baseUri_trailingSlashAndV1_strippedAndBadUrlsRejected() {
        assertThat(StreamingClient.baseUri("http://h:8000/v1/").toString()).isEqualTo("http://h:8000");
        assertThat(StreamingClient.baseUri("http://h:8000").toString()).isEqualTo("http://h:8000");
        assertThatThrownBy(() -> StreamingClient.baseUri("ftp://h")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("ftp://h");
        assertThatThrownBy(() -> StreamingClient.baseUri("localhost:8000")).isInstanceOf(ConfigException.class);
        assertThatThrownBy(() -> StreamingClient.baseUri("http://bad host")).isInstanceOf(ConfigException.class);
    }
}
