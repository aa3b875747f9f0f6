package dev.tandem.runtime.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.ConfigException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * Disaggregated serving across two vLLM servers that move KV blocks themselves (vLLM's
 * NixlConnector, {@code --kv-transfer-config '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'}):
 * the HTTP side of it, as vLLM's own disaggregation proxy speaks it. This client has been
 * tested against a server written to that protocol, not against a real vLLM.
 *
 * <pre>
 * Design
 *   1. prefill leg: POST {prefill}/v1/completions (or /v1/chat/completions) with the client's
 *      body changed so the prefill server only prefills and keeps the blocks for a peer:
 *        kv_transfer_params = {do_remote_decode: true, do_remote_prefill: false,
 *                              remote_engine_id, remote_block_ids, remote_host, remote_port: null}
 *        stream = false, max_tokens = 1 (and max_completion_tokens = 1 when present),
 *        stream_options, min_tokens and min_completion_tokens removed
 *      The answer's "kv_transfer_params" (remote_engine_id, remote_block_ids, remote_host,
 *      remote_port, ... : where the decode server pulls the blocks from) are opaque here.
 *   2. decode leg: POST {decode}/same path with the client's own body plus those
 *      kv_transfer_params; the decode server pulls the blocks and generates (streamed or not,
 *      as the client asked). Both legs carry the same X-Request-Id.
 *   A prefill leg that fails (HTTP error, deadline, unreadable answer) or returns no
 *   kv_transfer_params is not an error: the decode leg is sent without them and the decode
 *   server prefills by itself (Tandem's own KvImporter falls back the same way). Fallbacks
 *   are counted.
 *
 * Concurrency
 *   Safe for concurrent use (the JDK HttpClient is).
 *
 * References
 *   vLLM tests/v1/kv_connector/nixl_integration/toy_proxy_server.py and
 *   examples/online_serving/disaggregated_serving/.
 * </pre>
 */
public final class NixlDisaggClient implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(NixlDisaggClient.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Request fields vLLM's prefill side does not accept with max_tokens = 1 (the decode leg keeps them). */
    private static final String[] DECODE_ONLY_FIELDS = {"stream_options", "min_tokens", "min_completion_tokens"};

    /**
     * @param prefillUrl       the prefill server's base URL, e.g. {@code http://host:8100}
     * @param decodeUrl        the decode server's base URL
     * @param connectTimeoutMs TCP connect deadline, ms, [1, 600000]
     * @param prefillTimeoutMs deadline of the whole prefill leg, ms, [1, 3600000]
     * @param apiKey           sent as {@code Authorization: Bearer} on both legs; null: none
     */
    public record Config(URI prefillUrl, URI decodeUrl, long connectTimeoutMs, long prefillTimeoutMs, String apiKey) {
        public static final long DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
        public static final long DEFAULT_PREFILL_TIMEOUT_MS = 60_000;

        public Config {
            checkUrl(prefillUrl, "prefill");
            checkUrl(decodeUrl, "decode");
            if (connectTimeoutMs < 1 || connectTimeoutMs > 600_000) {
                throw new ConfigException("connect timeout must be in [1, 600000] ms, got " + connectTimeoutMs);
            }
            if (prefillTimeoutMs < 1 || prefillTimeoutMs > 3_600_000) {
                throw new ConfigException("prefill timeout must be in [1, 3600000] ms, got " + prefillTimeoutMs);
            }
        }

        public static Config of(URI prefillUrl, URI decodeUrl) {
            return new Config(prefillUrl, decodeUrl, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_PREFILL_TIMEOUT_MS, null);
        }

        private static void checkUrl(URI url, String what) {
            if (url == null || !("http".equals(url.getScheme()) || "https".equals(url.getScheme()))
                    || url.getHost() == null) {
                throw new ConfigException(what + " server URL must be http(s)://HOST[:PORT], got " + url);
            }
        }
    }

    /** What the prefill leg gave the decode leg. */
    public sealed interface Prefill permits Prefill.Ready, Prefill.Fallback {
        /** The prefill server holds the blocks; {@code kvTransferParams} tell the decode server where. */
        record Ready(JsonNode kvTransferParams) implements Prefill {
        }

        /** No blocks to pull (the reason says why); the decode server prefills by itself. */
        record Fallback(String reason) implements Prefill {
        }
    }

    private final Config config;
    private final HttpClient http;
    private final LongAdder prefills = new LongAdder();
    private final LongAdder fallbacks = new LongAdder();

    public NixlDisaggClient(Config config) {
        this.config = config;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofMillis(config.connectTimeoutMs())).build();
    }

    /** The prefill leg's body: the client's body changed to prefill only and keep the blocks for a peer. */
    public static ObjectNode prefillBody(ObjectNode request) {
        ObjectNode body = request.deepCopy();
        ObjectNode params = body.putObject("kv_transfer_params");
        params.put("do_remote_decode", true);
        params.put("do_remote_prefill", false);
        params.putNull("remote_engine_id");
        params.putNull("remote_block_ids");
        params.putNull("remote_host");
        params.putNull("remote_port");
        body.put("stream", false);
        body.put("max_tokens", 1);
        if (body.has("max_completion_tokens")) {
            body.put("max_completion_tokens", 1);
        }
        body.remove(List.of(DECODE_ONLY_FIELDS));
        return body;
    }

    /** The decode leg's body: the client's body, plus the prefill's kv_transfer_params when it has them. */
    public static ObjectNode decodeBody(ObjectNode request, Prefill prefill) {
        ObjectNode body = request.deepCopy();
        switch (prefill) {
            case Prefill.Ready r -> body.set("kv_transfer_params", r.kvTransferParams().deepCopy());
            case Prefill.Fallback f -> body.remove("kv_transfer_params");
        }
        return body;
    }

    /**
     * Runs the prefill leg within the prefill deadline. Never throws for the server's failures:
     * those are {@link Prefill.Fallback}s.
     *
     * @param path {@code /v1/completions} or {@code /v1/chat/completions}
     */
    public Prefill prefill(String requestId, String path, ObjectNode request) {
        prefills.increment();
        HttpResponse<byte[]> response;
        try {
            response = http.send(post(config.prefillUrl(), path, requestId, prefillBody(request))
                    .timeout(Duration.ofMillis(config.prefillTimeoutMs())).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
        } catch (HttpTimeoutException e) {
            return fallback(requestId, "prefill server did not answer within " + config.prefillTimeoutMs() + " ms");
        } catch (IOException e) {
            return fallback(requestId, "prefill server unreachable: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return fallback(requestId, "interrupted while waiting for the prefill server");
        }
        if (response.statusCode() != 200) {
            return fallback(requestId, "prefill server answered HTTP " + response.statusCode());
        }
        JsonNode params;
        try {
            params = JSON.readTree(response.body()).path("kv_transfer_params");
        } catch (IOException e) {
            return fallback(requestId, "prefill answer is not JSON: " + e.getMessage());
        }
        if (!params.isObject() || params.isEmpty()) {
            return fallback(requestId, "prefill answer has no kv_transfer_params");
        }
        return new Prefill.Ready(params);
    }

    private Prefill fallback(String requestId, String reason) {
        fallbacks.increment();
        LOG.log(System.Logger.Level.WARNING, "[req={0}] {1}; the decode server prefills by itself", requestId, reason);
        return new Prefill.Fallback(reason);
    }

    /**
     * Sends the decode leg and returns the decode server's response as it arrives (an SSE stream
     * when the client's body asks for one). The caller reads and closes the body.
     *
     * @param timeoutMs deadline until the response headers arrive, ms
     * @throws IOException when the decode server cannot be reached or does not answer in time
     */
    public HttpResponse<InputStream> decode(String requestId, String path, ObjectNode request, Prefill prefill,
                                            long timeoutMs) throws IOException, InterruptedException {
        return http.send(post(config.decodeUrl(), path, requestId, decodeBody(request, prefill))
                .timeout(Duration.ofMillis(timeoutMs)).build(), HttpResponse.BodyHandlers.ofInputStream());
    }

    /**
     * Both legs: the prefill leg (a fallback when it fails), then the decode leg, whose response
     * is returned as it arrives.
     *
     * @param decodeTimeoutMs deadline until the decode server's response headers arrive, ms
     */
    public HttpResponse<InputStream> complete(String requestId, String path, ObjectNode request, long decodeTimeoutMs)
            throws IOException, InterruptedException {
        return decode(requestId, path, request, prefill(requestId, path, request), decodeTimeoutMs);
    }

    private HttpRequest.Builder post(URI base, String path, String requestId, ObjectNode body) {
        if (!path.equals("/v1/completions") && !path.equals("/v1/chat/completions")) {
            throw new IllegalArgumentException("path must be /v1/completions or /v1/chat/completions, got " + path);
        }
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(body);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write a JSON body", e);
        }
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path))
                .header("Content-Type", "application/json")
                .header("X-Request-Id", requestId)
                .POST(HttpRequest.BodyPublishers.ofByteArray(bytes));
        if (config.apiKey() != null) {
            b.header("Authorization", "Bearer " + config.apiKey());
        }
        return b;
    }

    /** Prefill legs run so far. */
    public long prefills() {
        return prefills.sum();
    }

    /** Prefill legs that gave no blocks (the decode server prefilled by itself). */
    public long fallbacks() {
        return fallbacks.sum();
    }

    @Override
    public void close() {
        http.close();
    }
}
