package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.engine.mock.TimingProfile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The benchmark's minimal client against a real frontend: framing and keep-alive reuse. */
@Timeout(60)
class KeepAliveClientTest {
    private static Harness h;

    @BeforeAll
    static void start() {
        h = Harness.mock(1, TimingProfile.DYNAMO.withSpeedup(1e6), c -> c);
    }

    @AfterAll
    static void stop() {
        h.close();
    }

    @Test
    void exchange_wholeAnswer_readByContentLengthThreeTimesOnOneConnection() throws Exception {
        byte[] request = KeepAliveClient.post("127.0.0.1", h.server.port(), "/v1/completions",
                "{\"prompt\": [1, 2, 3], \"max_tokens\": 5, \"ignore_eos\": true, \"temperature\": 0}");
        try (KeepAliveClient client = new KeepAliveClient("127.0.0.1", h.server.port(), request, 10_000)) {
            for (int i = 0; i < 3; i++) {
                KeepAliveClient.Answer a = client.exchange();

                assertThat(a.status()).isEqualTo(200);
                assertThat(Harness.json(a.text()).get("usage").get("completion_tokens").asInt()).isEqualTo(5);
            }
        }
    }

    @Test
    void exchange_streamedAnswer_readByChunkedFramingThenReused() throws Exception {
        byte[] request = KeepAliveClient.post("127.0.0.1", h.server.port(), "/v1/completions",
                "{\"prompt\": [1, 2, 3], \"max_tokens\": 7, \"ignore_eos\": true, \"stream\": true,"
                        + " \"stream_options\": {\"include_usage\": true}}");
        try (KeepAliveClient client = new KeepAliveClient("127.0.0.1", h.server.port(), request, 10_000)) {
            KeepAliveClient.Answer first = client.exchange();
            KeepAliveClient.Answer second = client.exchange();

            assertThat(first.status()).isEqualTo(200);
            assertThat(first.text()).endsWith("data: [DONE]\n\n");
            java.util.List<String> events = Harness.events(first.text());
            assertThat(Harness.json(events.get(events.size() - 2)).get("usage").get("completion_tokens").asInt())
                    .isEqualTo(7);
            assertThat(second.status()).isEqualTo(200);
            assertThat(second.text()).endsWith("data: [DONE]\n\n");
        }
    }

    @Test
    void exchange_errorAnswer_statusAndBodyReturned() throws Exception {
        byte[] request = KeepAliveClient.post("127.0.0.1", h.server.port(), "/v1/completions", "{\"prompt\": []}");
        try (KeepAliveClient client = new KeepAliveClient("127.0.0.1", h.server.port(), request, 10_000)) {
            KeepAliveClient.Answer a = client.exchange();

            assertThat(a.status()).isEqualTo(400);
            assertThat(Harness.json(a.text()).get("error").get("param").asText()).isEqualTo("prompt");
        }
    }
}
