package dev.tandem.runtime.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.tandem.core.ConfigException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The client against two servers written to the protocol of vLLM's NixlConnector as its
 * disaggregation proxy uses it: the prefill server checks the prefill-only body and pins blocks
 * under an engine id; the decode server reads those blocks when the request names them (and
 * fails the request if they are not pinned), else prefills by itself.
 */
@Timeout(30)
class NixlDisaggClientTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Blocks the fake prefill server holds for a peer, by "engine id/request id". */
    private final Map<String, List<Integer>> pinned = new ConcurrentHashMap<>();
    private final List<JsonNode> prefillBodies = new CopyOnWriteArrayList<>();
    private final List<JsonNode> decodeBodies = new CopyOnWriteArrayList<>();
    private final List<String> requestIds = new CopyOnWriteArrayList<>();
    private final List<String> authorizations = new CopyOnWriteArrayList<>();
    private final AtomicInteger prefillStatus = new AtomicInteger(200);
    private volatile boolean prefillReturnsParams = true;
    private final CountDownLatch releaseSlowPrefill = new CountDownLatch(1);
    private volatile boolean prefillSlow;
    private HttpServer prefillServer;
    private HttpServer decodeServer;

    @BeforeEach
    void startServers() throws IOException {
        prefillServer = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        prefillServer.createContext("/v1/", this::prefill);
        prefillServer.start();
        decodeServer = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        decodeServer.createContext("/v1/", this::decode);
        decodeServer.start();
    }

    @AfterEach
    void stopServers() {
        releaseSlowPrefill.countDown();
        prefillServer.stop(0);
        decodeServer.stop(0);
    }

    private NixlDisaggClient client(long prefillTimeoutMs, String apiKey) {
        return new NixlDisaggClient(new NixlDisaggClient.Config(
                URI.create("http://127.0.0.1:" + prefillServer.getAddress().getPort()),
                URI.create("http://127.0.0.1:" + decodeServer.getAddress().getPort()), 2_000, prefillTimeoutMs, apiKey));
    }

    private void prefill(HttpExchange ex) throws IOException {
        JsonNode body = JSON.readTree(ex.getRequestBody());
        prefillBodies.add(body);
        requestIds.add(ex.getRequestHeaders().getFirst("X-Request-Id"));
        authorizations.add(String.valueOf(ex.getRequestHeaders().getFirst("Authorization")));
        if (prefillSlow) {
            try {
                releaseSlowPrefill.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        JsonNode params = body.path("kv_transfer_params");
        boolean prefillOnly = params.path("do_remote_decode").asBoolean(false) && body.path("max_tokens").asInt() == 1
                && !body.path("stream").asBoolean(true) && !body.has("stream_options") && !body.has("min_tokens");
        if (!prefillOnly || prefillStatus.get() != 200) {
            respond(ex, prefillOnly ? prefillStatus.get() : 400, "{\"error\":{\"message\":\"not a prefill request\"}}");
            return;
        }
        String requestId = ex.getRequestHeaders().getFirst("X-Request-Id");
        pinned.put("engine-p/" + requestId, List.of(7, 8, 9));
        ObjectNode answer = JSON.createObjectNode();
        answer.putArray("choices").addObject().put("text", "x").put("finish_reason", "length");
        if (prefillReturnsParams) {
            ObjectNode out = answer.putObject("kv_transfer_params");
            out.put("do_remote_prefill", true);
            out.put("do_remote_decode", false);
            out.putArray("remote_block_ids").add(7).add(8).add(9);
            out.put("remote_engine_id", "engine-p");
            out.put("remote_host", "127.0.0.1");
            out.put("remote_port", 5600);
            out.put("remote_request_id", requestId);
            out.put("tp_size", 1);
        }
        respond(ex, 200, JSON.writeValueAsString(answer));
    }

    private void decode(HttpExchange ex) throws IOException {
        JsonNode body = JSON.readTree(ex.getRequestBody());
        decodeBodies.add(body);
        requestIds.add(ex.getRequestHeaders().getFirst("X-Request-Id"));
        authorizations.add(String.valueOf(ex.getRequestHeaders().getFirst("Authorization")));
        JsonNode params = body.path("kv_transfer_params");
        String how = "local-prefill";
        if (params.path("do_remote_prefill").asBoolean(false)) {
            List<Integer> blocks = pinned.remove(params.path("remote_engine_id").asText() + "/"
                    + params.path("remote_request_id").asText());
            if (blocks == null || !blocks.equals(JSON.convertValue(params.path("remote_block_ids"), List.class))) {
                respond(ex, 500, "{\"error\":{\"message\":\"remote blocks not pinned\"}}");
                return;
            }
            how = "remote-kv:" + blocks;
        }
        if (body.path("stream").asBoolean(false)) {
            StringBuilder sse = new StringBuilder();
            for (String piece : new String[] {how, " done"}) {
                sse.append("data: {\"choices\":[{\"text\":\"").append(piece).append("\"}]}\n\n");
            }
            sse.append("data: [DONE]\n\n");
            ex.getResponseHeaders().add("Content-Type", "text/event-stream");
            respond(ex, 200, sse.toString());
        } else {
            respond(ex, 200, "{\"choices\":[{\"text\":\"" + how + "\"}]}");
        }
    }

    private static void respond(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static ObjectNode request(boolean stream) {
        ObjectNode r = JSON.createObjectNode();
        r.put("model", "m");
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
            assertThat(JSON.readTree(text(out)).at("/choices/0/text").asText()).isEqualTo("remote-kv:[7, 8, 9]");
            JsonNode sentToPrefill = prefillBodies.getFirst();
            assertThat(sentToPrefill.path("kv_transfer_params").toString()).isEqualTo("{\"do_remote_decode\":true,"
                    + "\"do_remote_prefill\":false,\"remote_engine_id\":null,\"remote_block_ids\":null,"
                    + "\"remote_host\":null,\"remote_port\":null}");
            assertThat(sentToPrefill.path("max_tokens").asInt()).isEqualTo(1);
            assertThat(sentToPrefill.has("min_tokens")).isFalse();
            JsonNode sentToDecode = decodeBodies.getFirst();
            assertThat(sentToDecode.path("max_tokens").asInt()).isEqualTo(40);   // the client's own again
            assertThat(sentToDecode.path("min_tokens").asInt()).isEqualTo(5);
            assertThat(sentToDecode.at("/kv_transfer_params/remote_engine_id").asText()).isEqualTo("engine-p");
            assertThat(requestIds).containsExactly("req-1", "req-1");
            assertThat(authorizations).containsOnly("Bearer sk-test");
            assertThat(pinned).isEmpty();
            assertThat(client.fallbacks()).isZero();
        }
    }

    @Test
    void decode_streamingRequest_streamsTheDecodeServersEvents() throws Exception {
        try (NixlDisaggClient client = client(5_000, null)) {
            NixlDisaggClient.Prefill p = client.prefill("req-2", "/v1/chat/completions", request(true));
            HttpResponse<InputStream> out = client.decode("req-2", "/v1/chat/completions", request(true), p, 5_000);

            assertThat(prefillBodies.getFirst().path("stream").asBoolean()).isFalse();
            assertThat(prefillBodies.getFirst().has("stream_options")).isFalse();
            assertThat(decodeBodies.getFirst().at("/stream_options/include_usage").asBoolean()).isTrue();
            assertThat(out.headers().firstValue("Content-Type")).hasValue("text/event-stream");
            assertThat(text(out)).startsWith("data: {\"choices\":[{\"text\":\"remote-kv:[7, 8, 9]\"}]}")
                    .endsWith("data: [DONE]\n\n");
            assertThat(authorizations).containsOnly("null");
        }
    }

    @Test
    void prefill_serverError_fallsBackToADecodeThatPrefillsItself() throws Exception {
        prefillStatus.set(503);
        try (NixlDisaggClient client = client(5_000, null)) {
            NixlDisaggClient.Prefill p = client.prefill("req-3", "/v1/completions", request(false));
            HttpResponse<InputStream> out = client.decode("req-3", "/v1/completions", request(false), p, 5_000);

            assertThat(p).isInstanceOfSatisfying(NixlDisaggClient.Prefill.Fallback.class,
                    f -> assertThat(f.reason()).contains("HTTP 503"));
            assertThat(decodeBodies.getFirst().has("kv_transfer_params")).isFalse();
            assertThat(JSON.readTree(text(out)).at("/choices/0/text").asText()).isEqualTo("local-prefill");
            assertThat(client.fallbacks()).isEqualTo(1);
        }
    }

    @Test
    void complete_runsBothLegs() throws Exception {
        try (NixlDisaggClient client = client(5_000, null)) {
            HttpResponse<InputStream> out = client.complete("req-7", "/v1/completions", request(false), 5_000);

            assertThat(JSON.readTree(text(out)).at("/choices/0/text").asText()).isEqualTo("remote-kv:[7, 8, 9]");
            assertThat(client.prefills()).isEqualTo(1);
            assertThat(requestIds).containsExactly("req-7", "req-7");
        }
    }

    @Test
    void prefill_answerWithoutParams_fallsBack() {
        prefillReturnsParams = false;
        try (NixlDisaggClient client = client(5_000, null)) {
            assertThat(client.prefill("req-4", "/v1/completions", request(false)))
                    .isEqualTo(new NixlDisaggClient.Prefill.Fallback("prefill answer has no kv_transfer_params"));
        }
    }

    @Test
    void prefill_serverSilentPastTheDeadline_fallsBack() {
        prefillSlow = true;
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
