package dev.tandem.runtime.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A server written to vLLM's OpenAI completions API and to the HTTP side of its NixlConnector
 * disaggregation, on a real loopback socket, for tests of Tandem's side of that protocol (there
 * is no GPU, so no real vLLM, here).
 *
 * <ul>
 *   <li>It says it is vLLM ({@code GET /version}) and lists one model ({@code GET /v1/models});
 *       {@code /v1/completions} and {@code /v1/chat/completions} both take a prompt of token ids;</li>
 *   <li>its "model" is deterministic: the next token is a hash of the whole sequence so far
 *       ({@link #nextToken}), so a prompt continued from a prefill's first token gives the same
 *       text as the same prompt generated in one go ({@link #generate});</li>
 *   <li>prefill leg ({@code kv_transfer_params.do_remote_decode: true}): the body must be
 *       prefill-only ({@code stream: false}, {@code max_tokens: 1}, no {@code stream_options}),
 *       else 400; it "pins" the prompt's blocks under the request id and answers the first token
 *       with {@code kv_transfer_params} naming its engine id, block ids, host, port and request id
 *       (unless {@link #answerParams} is off: a server without the connector);</li>
 *   <li>decode leg ({@code kv_transfer_params.do_remote_prefill: true}): it asks the peer whose
 *       engine id the parameters name ({@link #peer}) for those blocks (taken once: vLLM frees
 *       them once read); params no peer pinned, or for another prompt, fail the request as vLLM's
 *       default {@code kv_load_failure_policy: "fail"} does (HTTP 500). A request read from a
 *       peer reports the prefilled prompt as {@code usage.prompt_tokens_details.cached_tokens};</li>
 *   <li>anything else is computed locally ({@code cached_tokens: 0}).</li>
 * </ul>
 *
 * <p>Safe for concurrent use; each exchange runs on its own virtual thread.
 */
public final class FakeVllm implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The model id it lists. */
    public static final String MODEL = "fake-vllm-model";
    /** Generated ids are in [FIRST_TOKEN, FIRST_TOKEN + TOKEN_SPAN): ordinary pieces of stories260K's vocabulary. */
    private static final int FIRST_TOKEN = 259;
    private static final int TOKEN_SPAN = 200;
    /** The side-channel port its parameters name (NIXL's handshake port; nothing listens). */
    private static final int SIDE_CHANNEL_PORT = 5600;

    /** Blocks held for a peer: the prompt they hold and their ids. */
    private record Pinned(int[] prompt, List<Integer> blockIds) {
    }

    private final String engineId;
    private final int blockSizeTokens;
    private final HttpServer server;
    private final Map<String, Pinned> pinned = new ConcurrentHashMap<>();
    private final List<FakeVllm> peers = new CopyOnWriteArrayList<>();
    private final AtomicInteger nextBlock = new AtomicInteger(100);
    /** Completion request bodies received, in order. */
    public final List<JsonNode> bodies = new CopyOnWriteArrayList<>();
    /** Their X-Request-Id headers, in the same order. */
    public final List<String> requestIds = new CopyOnWriteArrayList<>();
    /** Their Authorization headers ("null" when absent), in the same order. */
    public final List<String> authorizations = new CopyOnWriteArrayList<>();
    /** Decode legs that read a peer's blocks. */
    public final AtomicInteger remoteReads = new AtomicInteger();
    /** Decode legs whose parameters named no blocks a peer held (answered 500). */
    public final AtomicInteger failedReads = new AtomicInteger();
    /** Whether prefill legs are answered with kv_transfer_params (a server with the connector). */
    public volatile boolean answerParams = true;
    /** When set, prefill legs wait for it (at most 10 s) before answering: a busy prefill server. */
    public volatile CountDownLatch holdPrefills;
    /** The HTTP status prefill legs get; other than 200, an error answer (an overloaded or failing server). */
    public volatile int prefillStatus = 200;

    private FakeVllm(String engineId, int blockSizeTokens) throws IOException {
        this.engineId = engineId;
        this.blockSizeTokens = blockSizeTokens;
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", this::handle);
        server.start();
    }

    /** Starts a server whose KV blocks hold {@code blockSizeTokens} tokens, under engine id {@code engineId}. */
    public static FakeVllm start(String engineId, int blockSizeTokens) throws IOException {
        return new FakeVllm(engineId, blockSizeTokens);
    }

    /** Lets this server read blocks {@code other} holds (its NIXL peer). */
    public FakeVllm peer(FakeVllm other) {
        peers.add(other);
        return this;
    }

    public String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** Blocks held for peers now. */
    public int pinnedRequests() {
        return pinned.size();
    }

    /** The model's next token after {@code sequence}. */
    public static int nextToken(int[] sequence) {
        long h = 17;
        for (int t : sequence) {
            h = h * 31 + t;
        }
        return FIRST_TOKEN + (int) Math.floorMod(h ^ (h >>> 29), (long) TOKEN_SPAN);
    }

    /** The {@code count} tokens the model generates after {@code prompt}. */
    public static int[] generate(int[] prompt, int count) {
        int[] seq = Arrays.copyOf(prompt, prompt.length + count);
        for (int i = 0; i < count; i++) {
            seq[prompt.length + i] = nextToken(Arrays.copyOf(seq, prompt.length + i));
        }
        return Arrays.copyOfRange(seq, prompt.length, seq.length);
    }

    private static float logprob(int token) {
        return -0.1f - (token % 7) / 10f;
    }

    /** Blocks a decode peer reads: taken once, only under the ids the parameters name. */
    private Pinned take(String requestId, JsonNode blockIds) {
        Pinned p = pinned.get(requestId);
        if (p == null || !blockIds.isArray() || blockIds.size() != p.blockIds().size()) {
            return null;
        }
        for (int i = 0; i < blockIds.size(); i++) {
            if (blockIds.get(i).asInt(-1) != p.blockIds().get(i)) {
                return null;
            }
        }
        return pinned.remove(requestId, p) ? p : null;
    }

    private void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            switch (path) {
                case "/version" -> answer(ex, 200, "{\"version\":\"0.11.0-fake\"}");
                case "/v1/models" -> answer(ex, 200, "{\"object\":\"list\",\"data\":[{\"id\":\"" + MODEL
                        + "\",\"object\":\"model\",\"max_model_len\":2048}]}");
                case "/health" -> answer(ex, 200, "");
                case "/v1/completions", "/v1/chat/completions" -> complete(ex);
                default -> answer(ex, 404, "{\"detail\":\"Not Found\"}");
            }
        }
    }

    private void complete(HttpExchange ex) throws IOException {
        JsonNode body = JSON.readTree(ex.getRequestBody());
        String requestId = ex.getRequestHeaders().getFirst("X-Request-Id");
        bodies.add(body);
        requestIds.add(String.valueOf(requestId));
        authorizations.add(String.valueOf(ex.getRequestHeaders().getFirst("Authorization")));
        JsonNode promptNode = body.path("prompt");
        int[] prompt = new int[promptNode.size()];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = promptNode.get(i).asInt();
        }
        if (!promptNode.isArray() || prompt.length == 0) {
            error(ex, 400, "prompt must be a non-empty list of token ids");
            return;
        }
        JsonNode params = body.path("kv_transfer_params");
        int cached = 0;
        ObjectNode outParams = null;
        if (params.path("do_remote_decode").asBoolean(false)) {
            if (body.path("stream").asBoolean(true) || body.path("max_tokens").asInt() != 1
                    || body.has("stream_options") || body.has("min_tokens")) {
                error(ex, 400, "a prefill for a remote decode must be stream=false, max_tokens=1, no stream_options");
                return;
            }
            CountDownLatch hold = holdPrefills;
            if (hold != null) {
                try {
                    hold.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            if (prefillStatus != 200) {
                error(ex, prefillStatus, "the prefill server cannot take the request now");
                return;
            }
            if (answerParams) {
                List<Integer> blocks = new ArrayList<>();
                for (int i = 0; i < (prompt.length + blockSizeTokens - 1) / blockSizeTokens; i++) {
                    blocks.add(nextBlock.getAndIncrement());
                }
                pinned.put(requestId, new Pinned(prompt, blocks));
                outParams = JSON.createObjectNode();
                outParams.put("do_remote_prefill", true);
                outParams.put("do_remote_decode", false);
                ArrayNode ids = outParams.putArray("remote_block_ids");
                blocks.forEach(ids::add);
                outParams.put("remote_engine_id", engineId);
                outParams.put("remote_host", "127.0.0.1");
                outParams.put("remote_port", SIDE_CHANNEL_PORT);
                outParams.put("remote_request_id", requestId);
                outParams.put("tp_size", 1);
            }
        } else if (params.path("do_remote_prefill").asBoolean(false)) {
            Pinned read = null;
            for (FakeVllm p : peers) {
                if (p.engineId.equals(params.path("remote_engine_id").asText())) {
                    read = p.take(params.path("remote_request_id").asText(), params.path("remote_block_ids"));
                }
            }
            boolean fits = read != null && String.valueOf(requestId).equals(params.path("remote_request_id").asText())
                    && (prompt.length == read.prompt().length || prompt.length == read.prompt().length + 1)
                    && Arrays.equals(read.prompt(), Arrays.copyOf(prompt, read.prompt().length));
            if (!fits) {
                failedReads.incrementAndGet();
                error(ex, 500, "KV load from the remote engine failed for request " + requestId
                        + " (kv_load_failure_policy=fail)");
                return;
            }
            remoteReads.incrementAndGet();
            cached = Math.min(read.prompt().length, prompt.length - 1);
        }
        int maxTokens = body.path("max_tokens").asInt(16);
        int[] tokens = generate(prompt, maxTokens);
        if (body.path("stream").asBoolean(false)) {
            stream(ex, body, tokens, usage(prompt.length, cached, tokens.length));
        } else {
            ObjectNode out = JSON.createObjectNode();
            out.put("id", "cmpl-" + requestId);
            out.put("object", "text_completion");
            out.put("model", MODEL);
            out.putArray("choices").add(choice(body, tokens, "length"));
            out.set("usage", usage(prompt.length, cached, tokens.length));
            if (outParams != null) {
                out.set("kv_transfer_params", outParams);
            }
            answer(ex, 200, out.toString());
        }
    }

    private static ObjectNode choice(JsonNode body, int[] tokens, String finish) {
        ObjectNode c = JSON.createObjectNode();
        c.put("index", 0);
        StringBuilder text = new StringBuilder();
        for (int t : tokens) {
            text.append(" t").append(t);
        }
        c.put("text", text.toString());
        if (body.path("return_token_ids").asBoolean(false)) {
            ArrayNode ids = c.putArray("token_ids");
            for (int t : tokens) {
                ids.add(t);
            }
        }
        if (body.has("logprobs") && !body.path("logprobs").isNull()) {
            ObjectNode lp = c.putObject("logprobs");
            ArrayNode values = lp.putArray("token_logprobs");
            for (int t : tokens) {
                values.add(logprob(t));
            }
        }
        if (finish == null) {
            c.putNull("finish_reason");
        } else {
            c.put("finish_reason", finish);
        }
        return c;
    }

    private static ObjectNode usage(int promptTokens, int cached, int completionTokens) {
        ObjectNode u = JSON.createObjectNode();
        u.put("prompt_tokens", promptTokens);
        u.put("completion_tokens", completionTokens);
        u.put("total_tokens", promptTokens + completionTokens);
        u.putObject("prompt_tokens_details").put("cached_tokens", cached);
        return u;
    }

    private static void stream(HttpExchange ex, JsonNode body, int[] tokens, ObjectNode usage) throws IOException {
        ex.getResponseHeaders().add("Content-Type", "text/event-stream");
        ex.sendResponseHeaders(200, 0);
        try (OutputStream out = ex.getResponseBody()) {
            for (int i = 0; i < tokens.length; i++) {
                ObjectNode chunk = JSON.createObjectNode();
                chunk.put("object", "text_completion");
                chunk.putArray("choices").add(choice(body, new int[] {tokens[i]},
                        i == tokens.length - 1 ? "length" : null));
                out.write(("data: " + chunk + "\n\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            }
            if (body.path("stream_options").path("include_usage").asBoolean(false)) {
                ObjectNode last = JSON.createObjectNode();
                last.putArray("choices");
                last.set("usage", usage);
                out.write(("data: " + last + "\n\n").getBytes(StandardCharsets.UTF_8));
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
        }
    }

    private static void error(HttpExchange ex, int status, String message) throws IOException {
        ObjectNode e = JSON.createObjectNode();
        ObjectNode inner = e.putObject("error");
        inner.put("message", message);
        inner.put("type", status == 400 ? "BadRequestError" : "InternalServerError");
        inner.put("code", status);
        answer(ex, status, e.toString());
    }

    private static void answer(HttpExchange ex, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().add("Content-Type", "application/json");
        ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
