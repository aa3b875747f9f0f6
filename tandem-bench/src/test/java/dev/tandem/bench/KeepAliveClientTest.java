package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.Engine;
import dev.tandem.frontend.FrontendServer;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The benchmark's minimal client against a real frontend: framing and keep-alive reuse. */
@Timeout(60)
class KeepAliveClientTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Engine engine;
    private static FrontendServer server;

    @BeforeAll
    static void start() {
        engine = FrontendOverheadBench.mock();
        server = FrontendOverheadBench.frontend(engine, 4);
    }

    @AfterAll
    static void stop() {
        server.close();
        engine.close();
    }

    private static JsonNode json(String text) throws Exception {
        return JSON.readTree(text);
    }

    /** The data payloads of an SSE body. */
    private static List<String> events(String sse) {
        return Arrays.stream(sse.split("\n\n")).filter(e -> e.startsWith("data: "))
                .map(e -> e.substring("data: ".length())).toList();
    }

    @Test
    void exchange_wholeAnswer_readByContentLengthThreeTimesOnOneConnection() throws Exception {
        byte[] request = KeepAliveClient.post("127.0.0.1", server.port(), "/v1/completions",
                "{\"prompt\": [1, 2, 3], \"max_tokens\": 5, \"ignore_eos\": true, \"temperature\": 0}");
        try (KeepAliveClient client = new KeepAliveClient("127.0.0.1", server.port(), request, 10_000)) {
            for (int i = 0; i < 3; i++) {
                KeepAliveClient.Answer a = client.exchange();

                assertThat(a.status()).isEqualTo(200);
                assertThat(json(a.text()).get("usage").get("completion_tokens").asInt()).isEqualTo(5);
            }
        }
    }

    @Test
    void exchange_streamedAnswer_readByChunkedFramingThenReused() throws Exception {
        byte[] request = KeepAliveClient.post("127.0.0.1", server.port(), "/v1/completions",
                "{\"prompt\": [1, 2, 3], \"max_tokens\": 7, \"ignore_eos\": true, \"stream\": true,"
                        + " \"stream_options\": {\"include_usage\": true}}");
        try (KeepAliveClient client = new KeepAliveClient("127.0.0.1", server.port(), request, 10_000)) {
            KeepAliveClient.Answer first = client.exchange();
            KeepAliveClient.Answer second = client.exchange();

            assertThat(first.status()).isEqualTo(200);
            assertThat(first.text()).endsWith("data: [DONE]\n\n");
            List<String> events = events(first.text());
            assertThat(json(events.get(events.size() - 2)).get("usage").get("completion_tokens").asInt())
                    .isEqualTo(7);
            assertThat(second.status()).isEqualTo(200);
            assertThat(second.text()).endsWith("data: [DONE]\n\n");
        }
    }

    @Test
    void exchange_errorAnswer_statusAndBodyReturned() throws Exception {
        byte[] request = KeepAliveClient.post("127.0.0.1", server.port(), "/v1/completions", "{\"prompt\": []}");
        try (KeepAliveClient client = new KeepAliveClient("127.0.0.1", server.port(), request, 10_000)) {
            KeepAliveClient.Answer a = client.exchange();

            assertThat(a.status()).isEqualTo(400);
            assertThat(json(a.text()).get("error").get("param").asText()).isEqualTo("prompt");
        }
    }
}
