package dev.tandem.runtime.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.ConfigException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The client against two servers written to the protocol of vLLM's NixlConnector as its
 * disaggregation proxy uses it ({@link FakeVllm}): the prefill server checks the prefill-only body
 * and pins blocks under an engine id; the decode server reads those blocks from its peer when the
 * request names them (and fails the request if they are not pinned), else prefills by itself.
 */
@Timeout(30)
class NixlDisaggClientTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int[] PROMPT = {1, 2, 3};

    private FakeVllm prefillServer;
    private FakeVllm decodeServer;

    @BeforeEach
    void startServers() throws IOException {
        prefillServer = FakeVllm.start("engine-p", 16);
        decodeServer = FakeVllm.start("engine-d", 16).peer(prefillServer);
    }

    @AfterEach
    void stopServers() {
        CountDownLatch hold = prefillServer.holdPrefills;
        if (hold != null) {
            hold.countDown();
        }
        prefillServer.close();
        decodeServer.close();
    }

    private NixlDisaggClient client(long prefillTimeoutMs, String apiKey) {
        return new NixlDisaggClient(new NixlDisaggClient.Config(URI.create(prefillServer.url()),
                URI.create(decodeServer.url()), 2_000, prefillTimeoutMs, apiKey));
    }

    private static ObjectNode request(boolean stream) {
        ObjectNode r = JSON.createObjectNode();
        r.put("model", FakeVllm.MODEL);
        r.putArray("prompt").add(1).add(2).add(3);
        r.put("max_tokens", 40);
        r.put("min_tokens", 5);
        r.put("stream", stream);
        if (stream) {
            r.putObject("stream_options").put("include_usage", true);
        }
        return r;
    }

    private static String text(HttpResponse<InputStream> response) throws IOException {
        try (InputStream in = response.body()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void prefillThenDecode_decodeServerReadsThePrefillServersBlocks() throws Exception {
        try (NixlDisaggClient client = client(5_000, "sk-test")) {
            NixlDisaggClient.Prefill p = client.prefill("req-1", "/v1/completions", request(false));
            HttpResponse<InputStream> out = client.decode("req-1", "/v1/completions", request(false), p, 5_000);

            assertThat(p).isInstanceOf(NixlDisaggClient.Prefill.Ready.class);
            assertThat(out.statusCode()).isEqualTo(200);
            JsonNode answer = JSON.readTree(text(out));
            assertThat(answer.at("/usage/prompt_tokens_details/cached_tokens").asInt())
                    .as("all but the last prompt position read from the peer").isEqualTo(PROMPT.length - 1);
            assertThat(answer.at("/usage/completion_tokens").asInt()).isEqualTo(40);
            assertThat(decodeServer.remoteReads.get()).isEqualTo(1);
            JsonNode sentToPrefill = prefillServer.bodies.getFirst();
            assertThat(sentToPrefill.path("kv_transfer_params").toString()).isEqualTo("{\"do_remote_decode\":true,"
                    + "\"do_remote_prefill\":false,\"remote_engine_id\":null,\"remote_block_ids\":null,"
                    + "\"remote_host\":null,\"remote_port\":null}");
            assertThat(sentToPrefill.path("max_tokens").asInt()).isEqualTo(1);
            assertThat(sentToPrefill.has("min_tokens")).isFalse();
            JsonNode sentToDecode = decodeServer.bodies.getFirst();
            assertThat(sentToDecode.path("max_tokens").asInt()).isEqualTo(40);   // the client's own again
            assertThat(sentToDecode.path("min_tokens").asInt()).isEqualTo(5);
            assertThat(sentToDecode.at("/kv_transfer_params/remote_engine_id").asText()).isEqualTo("engine-p");
            assertThat(prefillServer.requestIds).containsExactly("req-1");
            assertThat(decodeServer.requestIds).containsExactly("req-1");
            assertThat(prefillServer.authorizations).containsOnly("Bearer sk-test");
            assertThat(decodeServer.authorizations).containsOnly("Bearer sk-test");
            assertThat(prefillServer.pinnedRequests()).isZero();
            assertThat(client.fallbacks()).isZero();
        }
    }

    @Test
    void decode_streamingRequest_streamsTheDecodeServersEvents() throws Exception {
        try (NixlDisaggClient client = client(5_000, null)) {
            NixlDisaggClient.Prefill p = client.prefill("req-2", "/v1/chat/completions", request(true));
            HttpResponse<InputStream> out = client.decode("req-2", "/v1/chat/completions", request(true), p, 5_000);

            assertThat(prefillServer.bodies.getFirst().path("stream").asBoolean()).isFalse();
            assertThat(prefillServer.bodies.getFirst().has("stream_options")).isFalse();
            assertThat(decodeServer.bodies.getFirst().at("/stream_options/include_usage").asBoolean()).isTrue();
            assertThat(out.headers().firstValue("Content-Type")).hasValue("text/event-stream");
            assertThat(text(out)).startsWith("data: {").contains("\"cached_tokens\":2").endsWith("data: [DONE]\n\n");
            assertThat(decodeServer.remoteReads.get()).isEqualTo(1);
            assertThat(decodeServer.authorizations).containsOnly("null");
        }
    }

    @Test
    void prefill_serverError_fallsBackToADecodeThatPrefillsItself() throws Exception {
        prefillServer.prefillStatus = 503;
        try (NixlDisaggClient client = client(5_000, null)) {
            NixlDisaggClient.Prefill p = client.prefill("req-3", "/v1/completions", request(false));
            HttpResponse<InputStream> out = client.decode("req-3", "/v1/completions", request(false), p, 5_000);

            assertThat(p).isInstanceOfSatisfying(NixlDisaggClient.Prefill.Fallback.class,
                    f -> assertThat(f.reason()).contains("HTTP 503"));
            assertThat(decodeServer.bodies.getFirst().has("kv_transfer_params")).isFalse();
            assertThat(JSON.readTree(text(out)).at("/usage/prompt_tokens_details/cached_tokens").asInt()).isZero();
            assertThat(decodeServer.remoteReads.get()).isZero();
            assertThat(client.fallbacks()).isEqualTo(1);
        }
    }

    @Test
    void complete_runsBothLegs() throws Exception {
        try (NixlDisaggClient client = client(5_000, null)) {
            HttpResponse<InputStream> out = client.complete("req-7", "/v1/completions", request(false), 5_000);

            assertThat(out.statusCode()).isEqualTo(200);
            assertThat(JSON.readTree(text(out)).at("/choices/0/text").asText()).isNotEmpty();
            assertThat(decodeServer.remoteReads.get()).isEqualTo(1);
            assertThat(client.prefills()).isEqualTo(1);
            assertThat(prefillServer.requestIds).containsExactly("req-7");
            assertThat(decodeServer.requestIds).containsExactly("req-7");
        }
    }

    @Test
    void decode_paramsNoPeerPinned_failsAsVllmsDefaultPolicyDoes() throws Exception {
        ObjectNode stale = JSON.createObjectNode().put("do_remote_prefill", true).put("remote_engine_id", "engine-p")
                .put("remote_request_id", "req-8");
        stale.putArray("remote_block_ids").add(1);
        try (NixlDisaggClient client = client(5_000, null)) {
            HttpResponse<InputStream> out = client.decode("req-8", "/v1/completions", request(false),
                    new NixlDisaggClient.Prefill.Ready(stale), 5_000);

            assertThat(out.statusCode()).isEqualTo(500);
            assertThat(text(out)).contains("KV load from the remote engine failed");
            assertThat(decodeServer.failedReads.get()).isEqualTo(1);
        }
    }

    @Test
    void prefill_answerWithoutParams_fallsBack() {
        prefillServer.answerParams = false;
        try (NixlDisaggClient client = client(5_000, null)) {
            assertThat(client.prefill("req-4", "/v1/completions", request(false)))
                    .isEqualTo(new NixlDisaggClient.Prefill.Fallback("prefill answer has no kv_transfer_params"));
        }
    }

    @Test
    void prefill_serverSilentPastTheDeadline_fallsBack() {
        prefillServer.holdPrefills = new CountDownLatch(1);
        try (NixlDisaggClient client = client(300, null)) {
            assertThat(client.prefill("req-5", "/v1/completions", request(false)))
                    .isInstanceOfSatisfying(NixlDisaggClient.Prefill.Fallback.class,
                            f -> assertThat(f.reason()).contains("within 300 ms"));
        }
    }

    @Test
    void prefill_serverDown_fallsBack() {
        NixlDisaggClient.Config config = new NixlDisaggClient.Config(URI.create("http://127.0.0.1:1"),
                URI.create("http://127.0.0.1:1"), 2_000, 2_000, null);
        try (NixlDisaggClient client = new NixlDisaggClient(config)) {
            assertThat(client.prefill("req-6", "/v1/completions", request(false)))
                    .isInstanceOfSatisfying(NixlDisaggClient.Prefill.Fallback.class,
                            f -> assertThat(f.reason()).contains("unreachable"));
        }
    }

    @Test
    void prefillBody_maxCompletionTokensAlsoOne_andTheClientsBodyUntouched() {
        ObjectNode r = request(true);
        r.put("max_completion_tokens", 40);
        r.put("min_completion_tokens", 2);

        ObjectNode body = NixlDisaggClient.prefillBody(r);

        assertThat(body.path("max_completion_tokens").asInt()).isEqualTo(1);
        assertThat(body.has("min_completion_tokens")).isFalse();
        assertThat(r.path("max_completion_tokens").asInt()).isEqualTo(40);
        assertThat(r.has("kv_transfer_params")).isFalse();
    }

    @Test
    void config_andPath_badValuesRejectedWithTheValue() {
        assertThatThrownBy(() -> NixlDisaggClient.Config.of(URI.create("tcp://h:1"), URI.create("http://h:2")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("tcp://h:1");
        assertThatThrownBy(() -> new NixlDisaggClient.Config(URI.create("http://h:1"), URI.create("http://h:2"), 0, 1,
                null)).isInstanceOf(ConfigException.class).hasMessageContaining("got 0");
        try (NixlDisaggClient client = client(1_000, null)) {
            assertThatThrownBy(() -> client.prefill("r", "/v1/embeddings", request(false)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("/v1/embeddings");
        }
    }
}
