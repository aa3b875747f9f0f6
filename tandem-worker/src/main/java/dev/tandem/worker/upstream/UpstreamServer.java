package dev.tandem.worker.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.ConfigException;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

/**
 * What an upstream server says about itself at start: its kind (unless given), the model id the
 * OpenAI endpoint wants, and its shape (slots, context per slot).
 *
 * <p>Detection, first answer wins: {@code GET /props} with {@code total_slots} or
 * {@code default_generation_settings} is llama-server; {@code GET /metrics} naming {@code vllm:} or
 * {@code sglang:} series is vLLM or SGLang; {@code GET /version} answering {@code {"version"}} is
 * vLLM; {@code GET /get_server_info} is SGLang; any other server answering {@code GET /v1/models}
 * is a generic OpenAI-compatible one.
 *
 * @param kind          the server's kind
 * @param modelId       the id of its (first) model in {@code /v1/models}, sent as {@code model}
 * @param slots         sequences it computes at once (llama-server {@code total_slots}), or 0 when unknown
 * @param contextLength positions per sequence ({@code n_ctx} per slot, {@code max_model_len}), or 0
 */
record UpstreamServer(UpstreamKind kind, String modelId, int slots, int contextLength) {

    /** Asks the server, retrying until {@code config.startTimeoutMs()} has passed. */
    static UpstreamServer probe(HttpClient http, UpstreamConfig config, ObjectMapper json) {
        long deadline = System.nanoTime() + config.startTimeoutMs() * 1_000_000;
        RuntimeException last;
        do {
            try {
                return probeOnce(http, config, json);
            } catch (ConfigException e) {
                last = e;
            }
            try {
                Thread.sleep(Math.min(250, config.startTimeoutMs()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ConfigException("interrupted while waiting for upstream " + config.baseUri());
            }
        } while (System.nanoTime() < deadline);
        throw last;
    }

    static UpstreamServer probeOnce(HttpClient http, UpstreamConfig config, ObjectMapper json) {
        UpstreamKind kind = config.kind();
        JsonNode props = null;
        if (kind == null || kind == UpstreamKind.LLAMA_SERVER) {
            props = getJson(http, config, "/props", json);
            if (props != null && (props.has("total_slots") || props.has("default_generation_settings"))) {
                kind = UpstreamKind.LLAMA_SERVER;
            } else if (kind == UpstreamKind.LLAMA_SERVER) {
                throw new ConfigException("upstream " + config.baseUri() + " is not answering GET /props as "
                        + "llama-server does (is it up, and is it llama-server?)");
            }
        }
        if (kind == null) {
            String metrics = get(http, config, "/metrics");
            if (metrics != null && metrics.contains("vllm:")) {
                kind = UpstreamKind.VLLM;
            } else if (metrics != null && metrics.contains("sglang:")) {
                kind = UpstreamKind.SGLANG;
            } else if (getJson(http, config, "/version", json) instanceof JsonNode v && v.has("version")) {
                kind = UpstreamKind.VLLM;
            } else if (getJson(http, config, "/get_server_info", json) != null) {
                kind = UpstreamKind.SGLANG;
            }
        }
        JsonNode models = getJson(http, config, "/v1/models", json);
        JsonNode first = models == null ? null : models.path("data").path(0);
        if (kind == null && first != null && !first.isMissingNode()) {
            kind = UpstreamKind.OPENAI;
        }
        if (kind == null) {
            throw new ConfigException("no server answered at " + config.baseUri() + " (tried /props, /metrics, "
                    + "/version, /get_server_info, /v1/models)");
        }
        String modelId = first == null || first.isMissingNode() ? null : first.path("id").asText(null);
        if (kind.openAi() && modelId == null) {
            throw new ConfigException("upstream " + config.baseUri() + " (" + kind + ") lists no model in GET /v1/models");
        }
        int slots = 0;
        int context = 0;
        if (kind == UpstreamKind.LLAMA_SERVER && props != null) {
            slots = props.path("total_slots").asInt(0);
            context = props.path("default_generation_settings").path("n_ctx").asInt(0);
        } else if (first != null) {
            context = first.path("max_model_len").asInt(0);
        }
        return new UpstreamServer(kind, modelId, slots, context);
    }

    /** The body of {@code GET path} when it answers 200, else null. */
    static String get(HttpClient http, UpstreamConfig config, String path) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(config.resolve(path))
                    .timeout(Duration.ofMillis(config.connectTimeoutMs() + config.pollIntervalMs())).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? r.body() : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    private static JsonNode getJson(HttpClient http, UpstreamConfig config, String path, ObjectMapper json) {
        String body = get(http, config, path);
        if (body == null) {
            return null;
        }
        try {
            JsonNode n = json.readTree(body);
            return n.isObject() ? n : null;
        } catch (IOException e) {
            return null;
        }
    }
}
