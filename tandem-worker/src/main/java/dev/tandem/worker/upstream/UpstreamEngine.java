package dev.tandem.worker.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.BlockHasher;
import dev.tandem.core.ConfigException;
import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvLayout;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.OutputConstraint;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.SamplingParams;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.runtime.http.StreamingHttp;
import java.io.IOException;
import java.net.ConnectException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Function;

import static dev.tandem.core.Closeables.closeQuietly;

/**
 * Tandem's {@link Engine} over an external server reached by HTTP: llama.cpp's
 * {@code llama-server} (native {@code /completion}), vLLM, SGLang or any OpenAI-compatible server
 * ({@code /v1/completions}). The frontend has tokenised and templated the prompt; the server gets
 * the token ids, so the blocks the router hashes are the tokens the server caches.
 *
 * <pre>
 * submit ─▶ Call: POST (prompt ids, sampling) ── SSE lines ─▶ tokens ─▶ TokenSink
 *              │ CacheMirror.beforeRequest ─Stored─▶ KV listeners      ▲
 *              └ answer's cached prompt tokens ─▶ CacheMirror.afterRequest ─Stored/Removed─┘
 * poller (every pollIntervalMs): GET /metrics (else /health) ─▶ load figures, liveness ─▶ listeners
 * </pre>
 *
 * <h2>Design</h2>
 * Each request is one streamed HTTP call; cancelling closes the stream (the server stops
 * generating when the connection goes). Every call has deadlines: connect, response headers,
 * the whole request. A refused or dropped connection, or a stream cut before its end, fails the
 * request with {@code WORKER_LOST}, so the frontend re-issues it elsewhere as it does for a lost
 * Tandem worker; error answers map to the same kinds as Tandem's own ({@link UpstreamErrors}).
 * <p>
 * Routing: without a {@link KvEventFeed} the engine publishes approximate KV events
 * ({@link CacheMirror}) from what it sent and what the server reported as cached on each answer.
 * Load comes from the server's {@code /metrics} when it has one, else from the requests in flight.
 * <p>
 * Liveness: the poller's probe failing (a refused connection once, anything else twice in a
 * row) marks the server down; the worker around it leaves the registry until it is up again.
 * <p>
 * Over 500 lines on purpose: one server kind's request body and its streamed chunks are read in
 * the same place as the others' (llama-server's native fields beside the OpenAI ones), so the
 * mapping of every sampling parameter and answer field can be compared side by side.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. A request's sink is called from the HTTP client's thread, one call at
 * a time, in order; a cancel, a deadline or close may end it from another thread, under the call's lock.
 */
public final class UpstreamEngine implements Engine {
    private static final System.Logger LOG = System.getLogger(UpstreamEngine.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    /** llama-server's assumed cache, in multiples of its slots' context (see the constructor). */
    private static final int LLAMA_SERVER_HOST_CACHE = 8;
    /** How long after a call's own deadline a blocked read gives up by itself, ms. */
    private static final long READ_TIMEOUT_MARGIN_MS = 1_000;
    /** Longest error body kept, characters. */
    private static final int MAX_ERROR_BODY = 4_096;

    /**
     * The model the frontend tokenises for (the server must serve the same one).
     *
     * @param name         the name clients use
     * @param layout       KV layout, of which the block size is what the router hashes
     * @param vocabSize    vocabulary size
     * @param contextLength the model's context, used when the server does not say its own
     * @param textTokens   ids of a piece of generated text (no special tokens added), for servers
     *                     that answer only text
     */
    public record Model(String name, KvLayout layout, int vocabSize, int contextLength,
                        Function<String, int[]> textTokens) {
    }

    /**
     * Sizes where the server does not tell.
     *
     * @param maxSequences    sequences the server runs at once when it does not say (llama-server does)
     * @param maxBatchTokens  reported in {@link EngineInfo}
     * @param capacityBlocks  blocks the server's cache holds, 0 to derive it from slots x context (x 8
     *                        for llama-server, whose host-memory prompt cache is not reported)
     */
    public record Limits(int maxSequences, int maxBatchTokens, int capacityBlocks) {
    }

    private final UpstreamConfig config;
    private final Model model;
    private final UpstreamServer server;
    private final HttpClient http;
    private final StreamingHttp streams;
    private final ScheduledExecutorService timer;
    private final CacheMirror mirror;
    private final AutoCloseable feed;
    private final EngineInfo info;
    private final Set<Call> running = ConcurrentHashMap.newKeySet();
    private final List<Consumer<Boolean>> livenessListeners = new CopyOnWriteArrayList<>();
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong cachedPromptTokens = new AtomicLong();
    private volatile UpstreamMetrics metrics = UpstreamMetrics.NONE;
    private volatile boolean metricsEndpoint = true;
    private volatile boolean alive = true;
    private volatile boolean closed;
    private int failedProbes;

    private UpstreamEngine(UpstreamConfig config, Model model, UpstreamServer server, HttpClient http,
                           Limits limits, KvEventFeed feed) {
        this.config = config;
        this.model = model;
        this.server = server;
        this.http = http;
        // the calls' timers end them first; the read timeout only backs them up
        this.streams = new StreamingHttp(config.connectTimeoutMs(), config.requestTimeoutMs() + READ_TIMEOUT_MARGIN_MS);
        int block = model.layout().blockSizeTokens();
        int context = server.contextLength() > 0 ? server.contextLength() : model.contextLength();
        int sequences = server.slots() > 0 ? server.slots() : limits.maxSequences();
        // llama-server also keeps prompts in host memory (--cache-ram, 8 GiB by default) and does not
        // say how many: assume 8 times its slots' context; the answers' counts correct an over-estimate
        long slotsBlocks = (long) context * sequences / block;
        long derived = server.kind() == UpstreamKind.LLAMA_SERVER ? slotsBlocks * LLAMA_SERVER_HOST_CACHE : slotsBlocks;
        int capacity = limits.capacityBlocks() > 0 ? limits.capacityBlocks()
                : (int) Math.max(1, Math.min(Integer.MAX_VALUE, derived));
        this.info = new EngineInfo(model.name(), model.layout(), capacity, limits.maxBatchTokens(), sequences, context,
                model.vocabSize(), false);
        this.mirror = new CacheMirror(capacity, feed == null);
        this.timer = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon()
                .name("tandem-upstream-" + config.baseUri().getPort()).factory());
        this.feed = feed == null ? null : feed.start(mirror::relay);
        timer.scheduleWithFixedDelay(this::poll, 0, config.pollIntervalMs(), TimeUnit.MILLISECONDS);
    }

    /**
     * Reaches the server (detecting its kind unless given; retrying until the start deadline) and
     * starts polling it.
     *
     * @param feed the server's own KV events, or null to publish approximate ones
     * @throws ConfigException if no server answers in time, or it is not of the kind given
     */
    public static UpstreamEngine start(UpstreamConfig config, Model model, Limits limits, KvEventFeed feed) {
        // the client's own thread parses each streamed line and calls the sink (which must not block):
        // no hand-off to an executor per line
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(config.connectTimeoutMs()))
                .version(HttpClient.Version.HTTP_1_1).executor(Runnable::run).build();
        try {
            UpstreamServer server = UpstreamServer.probe(http, config, JSON);
            LOG.log(System.Logger.Level.INFO, "upstream {0}: {1}{2}, {3} slots, context {4}", config.baseUri(),
                    server.kind(), server.modelId() == null ? "" : " serving '" + server.modelId() + "'",
                    server.slots(), server.contextLength());
            return new UpstreamEngine(config, model, server, http, limits, feed);
        } catch (RuntimeException e) {
            http.shutdownNow();
            throw e;
        }
    }

    /** The server's kind (given or detected). */
    public UpstreamKind kind() {
        return server.kind();
    }

    public UpstreamConfig config() {
        return config;
    }

    /** Whether the last probes reached the server. */
    public boolean alive() {
        return alive;
    }

    /**
     * Tells {@code listener} (from the poller thread) each time the server goes down (false) or
     * comes back (true).
     */
    public AutoCloseable onLiveness(Consumer<Boolean> listener) {
        livenessListeners.add(listener);
        return () -> livenessListeners.remove(listener);
    }

    @Override
    public EngineInfo info() {
        return info;
    }

    @Override
    public RequestHandle submit(GenerateRequest request, TokenSink sink) {
        if (request.remotePrefill() != null) {
            throw new RequestException(RequestException.Kind.INVALID, "an upstream worker of role aggregated does not "
                    + "continue requests prefilled by another worker (start it with --role decode)", null, null);
        }
        return start(request, null, sink);
    }

    /**
     * The decode leg of a request whose prompt a peer server prefilled ({@link NixlEngine}):
     * {@code request} is sent as {@link #submit} sends it, with {@code kvTransferParams} (the
     * prefill server's answer) in the body, so this server reads the prompt's blocks from its peer.
     */
    RequestHandle submitDecodeLeg(GenerateRequest request, JsonNode kvTransferParams, TokenSink sink) {
        return start(request, kvTransferParams, sink);
    }

    /** The model id the server wants in {@code model}, or null for llama-server. */
    String modelId() {
        return server.modelId();
    }

    /** Ids of a piece of generated text, for answers without token ids. */
    int[] textTokens(String text) {
        return model.textTokens().apply(text);
    }

    /**
     * Accounts a prompt the server computed outside a streamed call ({@link NixlEngine}'s prefill
     * leg) as a call's is accounted: the mirror learns its blocks, so routers see what the
     * server caches, and the prompt counters count it.
     *
     * @param cachedTokens the prompt tokens the server said it had cached, -1 when it did not say
     */
    void prefilled(int[] prompt, int cachedTokens) {
        int block = info.layout().blockSizeTokens();
        long[] local = BlockHasher.localHashes(prompt, prompt.length, block);
        long[] hashes = BlockHasher.sequenceHashes(local);
        CacheMirror.Ticket ticket = mirror.beforeRequest(hashes, local);
        int cached = Math.max(0, Math.min(cachedTokens, prompt.length - 1));
        // as a call's answer: a fully cached prompt reports one token less (the server computes the last)
        int cachedBlocks = cachedTokens < 0 ? ticket.believedBlocks()
                : (cached == prompt.length - 1 ? prompt.length : cached) / block;
        mirror.afterRequest(ticket, Math.min(cachedBlocks, hashes.length), hashes, local);
        promptTokens.addAndGet(prompt.length);
        cachedPromptTokens.addAndGet(cached);
    }

    private RequestHandle start(GenerateRequest request, JsonNode kvTransferParams, TokenSink sink) {
        if (closed) {
            throw new RequestException(RequestException.Kind.UNAVAILABLE, "upstream engine " + config.baseUri()
                    + " is closed");
        }
        if (request.promptLength() + request.maxTokens() > info.contextLength()) {
            throw new RequestException(RequestException.Kind.INVALID, "prompt (" + request.promptLength()
                    + " tokens) plus max_tokens (" + request.maxTokens() + ") exceeds the upstream context of "
                    + info.contextLength() + " tokens", "max_tokens", null);
        }
        if (request.constraint() != null) {
            String refusal = constraintRefusal(request.constraint());
            if (refusal != null) {
                throw new RequestException(RequestException.Kind.INVALID, refusal, "response_format", null);
            }
        }
        Call call = new Call(request, kvTransferParams, sink);
        running.add(call);
        call.start();
        return call;
    }

    @Override
    public LoadReport load() {
        UpstreamMetrics m = metrics;
        int inFlight = 0;
        int activeBlocks = 0;
        long queuedPrefill = 0;
        int block = info.layout().blockSizeTokens();
        for (Call c : running) {
            inFlight++;
            activeBlocks += (c.request.promptLength() + c.generated + block - 1) / block;
            if (c.generated == 0) {
                queuedPrefill += Math.max(0, c.request.promptLength() - c.believedBlocks * block);
            }
        }
        int runningSeqs = m.known() ? m.running() : Math.min(inFlight, info.maxSequences());
        int waiting = m.known() ? Math.max(0, m.waiting()) : Math.max(0, inFlight - info.maxSequences());
        if (m.kvUsage() >= 0) {
            activeBlocks = (int) Math.round(m.kvUsage() * info.totalBlocks());
        }
        activeBlocks = Math.min(activeBlocks, info.totalBlocks());
        int cached = Math.max(0, Math.min(mirror.size(), info.totalBlocks() - activeBlocks));
        return new LoadReport(info.totalBlocks(), activeBlocks, cached, runningSeqs, waiting, queuedPrefill,
                promptTokens.get(), cachedPromptTokens.get());
    }

    @Override
    public AutoCloseable subscribe(KvEventListener listener) {
        return mirror.subscribe(listener);
    }

    @Override
    public KvSnapshot kvSnapshot() {
        return mirror.snapshot();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Call c : running) {
            c.cancel();
        }
        closeQuietly(feed, LOG);
        timer.shutdownNow();
        streams.close();
        http.shutdownNow();
    }

    private void probeSoon() {
        if (!closed) {
            try {
                timer.execute(this::poll);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // closing
            }
        }
    }

    /** One probe: load figures from /metrics, or liveness from /health. */
    private void poll() {
        if (closed) {
            return;
        }
        boolean reached;
        boolean refused = false;
        try {
            String path = metricsEndpoint ? "/metrics" : (server.kind() == UpstreamKind.OPENAI ? "/v1/models" : "/health");
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(config.resolve(path))
                    .timeout(Duration.ofMillis(config.connectTimeoutMs() + config.pollIntervalMs())).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            reached = true;
            if (metricsEndpoint) {
                if (r.statusCode() == 200) {
                    metrics = UpstreamMetrics.parse(r.body());
                } else {
                    metricsEndpoint = false; // llama-server without --metrics: 501; count in flight instead
                    metrics = UpstreamMetrics.NONE;
                }
            }
        } catch (IOException e) {
            reached = false;
            refused = e instanceof ConnectException;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "upstream " + config.baseUri() + ": probe failed", e);
            return;
        }
        failedProbes = reached ? 0 : failedProbes + 1;
        boolean nowAlive = reached || (failedProbes < 2 && !refused);
        if (nowAlive != alive) {
            alive = nowAlive;
            LOG.log(nowAlive ? System.Logger.Level.INFO : System.Logger.Level.WARNING, "upstream {0} is {1}",
                    config.baseUri(), nowAlive ? "back" : "unreachable");
            for (Consumer<Boolean> l : livenessListeners) {
                try {
                    l.accept(nowAlive);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "liveness listener failed", e);
                }
            }
        }
    }

    /**
     * Why this server cannot take {@code c}, or null if it can: a JSON Schema goes to the server's
     * own structured output (llama-server {@code json_schema}, vLLM {@code guided_json}, SGLang
     * {@code json_schema}); the literal prefix and suffix of a forced tool call, the generic
     * completions API and a constrained request resumed after a migration have no equivalent there.
     */
    String constraintRefusal(OutputConstraint c) {
        if (!c.prefix().isEmpty() || !c.suffix().isEmpty()) {
            return "forced tool calls (tool_choice \"required\" or a named function) are not passed to upstream "
                    + "engines; use tool_choice \"auto\", whose calls Tandem parses from the reply";
        }
        if (c.replayedTokens() > 0) {
            return "a constrained request cannot resume on an upstream engine after a migration";
        }
        if (server.kind() == UpstreamKind.OPENAI) {
            return "the generic OpenAI completions API has no structured output; start the worker with "
                    + "--upstream-kind llama-server, vllm or sglang if the server is one of those";
        }
        return null;
    }

    /** The request body for this server's kind. */
    ObjectNode body(GenerateRequest r) {
        ObjectNode b = JSON.createObjectNode();
        ArrayNode prompt = b.putArray("prompt");
        for (int i = 0; i < r.promptLength(); i++) {
            prompt.add(r.promptToken(i));
        }
        SamplingParams s = r.sampling();
        b.put("stream", true);
        b.put("temperature", s.temperature());
        b.put("top_p", s.topP());
        if (s.seed() != null) {
            b.put("seed", s.seed());
        }
        b.put("presence_penalty", s.presencePenalty());
        b.put("frequency_penalty", s.frequencyPenalty());
        if (server.kind() == UpstreamKind.LLAMA_SERVER) {
            b.put("n_predict", r.maxTokens());
            b.put("return_tokens", true);
            b.put("cache_prompt", true);
            b.put("top_k", s.topK());
            b.put("min_p", s.minP());
            b.put("repeat_penalty", s.repetitionPenalty());
            b.put("repeat_last_n", info.contextLength()); // the whole sequence, as Tandem penalises
            b.put("ignore_eos", r.ignoreEos());
            if (s.seed() == null) {
                b.put("seed", -1);
            }
            if (r.topLogprobs() >= 0) {
                b.put("n_probs", Math.max(1, r.topLogprobs()));
            }
            if (r.constraint() != null) {
                b.set("json_schema", schema(r.constraint()));
            }
            return b;
        }
        b.put("model", server.modelId());
        b.put("max_tokens", r.maxTokens());
        b.putObject("stream_options").put("include_usage", true);
        if (r.topLogprobs() >= 0) {
            b.put("logprobs", r.topLogprobs());
        }
        if (server.kind() != UpstreamKind.OPENAI) {
            // vLLM and SGLang extensions of the completions request
            b.put("top_k", s.topK() == 0 ? -1 : s.topK());
            b.put("min_p", s.minP());
            b.put("repetition_penalty", s.repetitionPenalty());
            b.put("ignore_eos", r.ignoreEos());
            b.put("skip_special_tokens", false);
        }
        if (server.kind() == UpstreamKind.VLLM) {
            b.put("return_token_ids", true);
        }
        if (r.constraint() != null) {
            if (server.kind() == UpstreamKind.VLLM) {
                b.set("guided_json", schema(r.constraint()));
            } else {
                b.put("json_schema", r.constraint().jsonSchema()); // SGLang takes it as a string
            }
        }
        return b;
    }

    private static JsonNode schema(OutputConstraint c) {
        try {
            return JSON.readTree(c.jsonSchema());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new RequestException(RequestException.Kind.INVALID, "the JSON Schema is not JSON: "
                    + e.getOriginalMessage(), "response_format", null);
        }
    }

    /** One request's streamed call. */
    private final class Call implements RequestHandle {
        final GenerateRequest request;
        /** A decode leg's {@code kv_transfer_params} (where the peer holds the prompt's blocks), or null. */
        private final JsonNode kvTransferParams;
        private final TokenSink sink;
        private final long[] promptHashes;
        private final long[] promptLocal;
        private final CacheMirror.Ticket ticket;
        final int believedBlocks;
        private final StringBuilder errorBody = new StringBuilder();
        private int[] output = new int[16];
        volatile int generated;
        private volatile int status;
        private volatile StreamingHttp.Exchange exchange;
        private ScheduledFuture<?> deadline;
        private ScheduledFuture<?> headersDeadline;
        private FinishReason pending;
        /** Prompt tokens the server served from its cache; -1 when it did not say. */
        private int cachedTokens = -1;
        private volatile boolean done;

        Call(GenerateRequest request, JsonNode kvTransferParams, TokenSink sink) {
            this.request = request;
            this.kvTransferParams = kvTransferParams;
            this.sink = sink;
            int[] prompt = request.promptTokens();
            int block = info.layout().blockSizeTokens();
            this.promptLocal = BlockHasher.localHashes(prompt, prompt.length, block);
            this.promptHashes = BlockHasher.sequenceHashes(promptLocal);
            this.ticket = mirror.beforeRequest(promptHashes, promptLocal);
            this.believedBlocks = ticket.believedBlocks();
        }

        void start() {
            synchronized (this) {
                deadline = timer.schedule(() -> fail(new RequestException(RequestException.Kind.TIMEOUT, "upstream "
                        + config.baseUri() + " did not finish request " + request.requestId() + " within "
                        + config.requestTimeoutMs() + " ms")), config.requestTimeoutMs(), TimeUnit.MILLISECONDS);
                headersDeadline = timer.schedule(() -> fail(new RequestException(RequestException.Kind.TIMEOUT,
                        "upstream " + config.baseUri() + " did not answer request " + request.requestId() + " within "
                        + config.headersTimeoutMs() + " ms")), config.headersTimeoutMs(), TimeUnit.MILLISECONDS);
            }
            Thread.ofVirtual().name("tandem-upstream-call-" + request.requestId()).start(this::run);
        }

        /**
         * The call's own thread: sends the request, then reads the answer line by line to its end
         * (so the connection can carry the next call) or until the call is done.
         */
        private void run() {
            String path = server.kind() == UpstreamKind.LLAMA_SERVER ? "/completion" : "/v1/completions";
            // llama-server closes the connection after every streamed answer: do not pool it
            boolean closeAfter = server.kind() == UpstreamKind.LLAMA_SERVER;
            boolean readToEnd = false;
            try {
                ObjectNode body = body(request);
                if (kvTransferParams != null) {
                    body.set("kv_transfer_params", kvTransferParams.deepCopy());
                }
                StreamingHttp.Exchange x = streams.post(config.resolve(path),
                        body.toString().getBytes(StandardCharsets.UTF_8),
                        List.of("X-Request-Id", request.requestId()), closeAfter, this::opening);
                try {
                    status = x.status();
                    synchronized (this) {
                        headersDeadline.cancel(false);
                    }
                    StreamingHttp.Lines lines = x.lines();
                    for (String line = lines.next(); line != null; line = lines.next()) {
                        onLine(line);
                    }
                    readToEnd = true;
                } finally {
                    if (!readToEnd) {
                        x.abort();
                    }
                    x.close();
                }
            } catch (IOException | RuntimeException e) {
                if (!done) {
                    fail(UpstreamErrors.fromTransport(config.baseUri().toString(), e));
                }
                return;
            }
            streamEnded();
        }

        /** The exchange is about to be sent: from now on ending the call aborts it. */
        private void opening(StreamingHttp.Exchange x) {
            synchronized (this) {
                exchange = x;
                if (done) {
                    x.abort();
                }
            }
        }

        @Override
        public String requestId() {
            return request.requestId();
        }

        private void onLine(String line) {
            if (done) {
                return; // the rest of a finished stream, read so the connection can be used again
            }
            if (status != 200) {
                if (errorBody.length() < MAX_ERROR_BODY) {
                    errorBody.append(line).append('\n');
                }
                return;
            }
            if (!line.startsWith("data:")) {
                return; // blank separators, comments (": ping"), event names
            }
            String data = line.substring(5).trim();
            try {
                if (data.equals("[DONE]")) {
                    if (pending != null) {
                        finish(pending, true);
                    } else {
                        fail(UpstreamErrors.malformed(config.baseUri().toString(),
                                "the stream ended ([DONE]) without a finish reason"));
                    }
                    return;
                }
                if (server.kind() == UpstreamKind.LLAMA_SERVER) {
                    llamaServerChunk(LlamaServerChunk.parse(data, JSON));
                } else {
                    JsonNode chunk = JSON.readTree(data);
                    if (!chunk.isObject()) {
                        throw new IOException("not an object");
                    }
                    openAiChunk(chunk);
                }
            } catch (IOException | RuntimeException e) {
                if (e instanceof TandemException te) {
                    fail(te);
                } else {
                    fail(UpstreamErrors.malformed(config.baseUri().toString(), data));
                }
            }
        }

        private void llamaServerChunk(LlamaServerChunk chunk) {
            if (chunk.error() != null) {
                fail(UpstreamErrors.fromStreamError(config.baseUri().toString(), chunk.error()));
                return;
            }
            int[] tokens = chunk.tokens();
            for (int i = 0; i < tokens.length; i++) {
                if (!emit(token(tokens[i], chunk.probs().path(i)))) {
                    return;
                }
            }
            if (chunk.stop()) {
                cachedTokens = Math.max(0, chunk.cachedTokens());
                finish(chunk.limit() ? FinishReason.LENGTH : FinishReason.STOP, true);
            }
        }

        private GeneratedToken token(int id, JsonNode prob) {
            if (request.topLogprobs() < 0 || !prob.has("logprob")) {
                return GeneratedToken.of(id);
            }
            JsonNode top = prob.path("top_logprobs");
            int n = Math.min(request.topLogprobs(), top.size());
            int[] ids = new int[n];
            float[] lps = new float[n];
            for (int k = 0; k < n; k++) {
                ids[k] = top.get(k).path("id").asInt();
                lps[k] = (float) top.get(k).path("logprob").asDouble();
            }
            return new GeneratedToken(id, (float) prob.path("logprob").asDouble(), ids, lps);
        }

        private void openAiChunk(JsonNode chunk) {
            if (chunk.has("error")) {
                fail(UpstreamErrors.fromStreamError(config.baseUri().toString(), chunk.get("error")));
                return;
            }
            JsonNode usage = chunk.path("usage");
            if (usage.isObject()) {
                cachedTokens = usage.path("prompt_tokens_details").path("cached_tokens").asInt(0);
            }
            JsonNode choice = chunk.path("choices").path(0);
            if (choice.isMissingNode()) {
                return;
            }
            int[] ids;
            JsonNode tokenIds = choice.path("token_ids");
            if (tokenIds.isArray()) {
                ids = new int[tokenIds.size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = tokenIds.get(i).asInt();
                }
            } else {
                String text = choice.path("text").asText("");
                ids = text.isEmpty() ? new int[0] : model.textTokens().apply(text); // exact only if pieces round-trip
            }
            JsonNode lps = choice.path("logprobs").path("token_logprobs");
            for (int i = 0; i < ids.length; i++) {
                GeneratedToken t = request.topLogprobs() >= 0 && lps.size() == ids.length && lps.get(i).isNumber()
                        ? new GeneratedToken(ids[i], (float) lps.get(i).asDouble(), null, null)
                        : GeneratedToken.of(ids[i]);
                if (!emit(t)) {
                    return;
                }
            }
            String reason = choice.path("finish_reason").asText("");
            if (!reason.isEmpty() && !reason.equals("null")) {
                synchronized (this) {
                    pending = reason.equals("length") ? FinishReason.LENGTH : FinishReason.STOP;
                }
            }
        }

        /** Passes one token on; false once the request has ended (a stop id, the budget, a cancel). */
        private boolean emit(GeneratedToken t) {
            synchronized (this) {
                if (done) {
                    return false;
                }
                if (generated >= request.maxTokens()) {
                    return true; // past the budget the server was given: dropped; its last chunk ends the call
                }
                if (generated == output.length) {
                    output = Arrays.copyOf(output, output.length * 2);
                }
                output[generated] = t.tokenId();
                generated++;
                try {
                    sink.onToken(t);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "[req=" + request.requestId() + "] token sink failed; "
                            + "cancelling the request", e);
                    end(true);
                    return false;
                }
            }
            if (request.isStopToken(t.tokenId())) {
                cachedTokens = -1; // the answer that says it will not come: leave the belief as it is
                finish(FinishReason.STOP, false);
                return false;
            }
            return true;
        }

        private void streamEnded() {
            if (done) {
                return;
            }
            if (status != 200) {
                fail(UpstreamErrors.fromStatus(config.baseUri().toString(), status, errorBody.toString(), JSON));
                return;
            }
            FinishReason p;
            synchronized (this) {
                p = pending;
            }
            if (p != null) {
                finish(p, true);
            } else {
                fail(new RequestException(RequestException.Kind.WORKER_LOST, "upstream " + config.baseUri()
                        + " ended the stream of request " + request.requestId() + " before its end", null, null));
            }
        }

        /** Ends the request; a stream the server has ended (its last chunk came) is left to close by itself. */
        private void finish(FinishReason reason, boolean serverEnded) {
            Usage usage;
            synchronized (this) {
                if (done) {
                    return;
                }
                end(!serverEnded);
                int cached = Math.max(0, Math.min(cachedTokens, request.promptLength() - 1));
                usage = new Usage(request.promptLength(), cached, 0, generated);
                if (reason != FinishReason.CANCELLED) {
                    int block = info.layout().blockSizeTokens();
                    int[] all = Arrays.copyOf(request.promptTokens(), request.promptLength() + generated);
                    System.arraycopy(output, 0, all, request.promptLength(), generated);
                    // the prompt's full blocks were hashed at submit: only the blocks the reply completes are new
                    long[] local = Arrays.copyOf(promptLocal, BlockHasher.fullBlocks(all.length, block));
                    for (int b = promptLocal.length; b < local.length; b++) {
                        local[b] = BlockHasher.localHash(all, b * block, block);
                    }
                    // the server computes at least the last prompt token: a fully cached prompt reports one less
                    int cachedBlocks = cachedTokens < 0 ? believedBlocks
                            : (cached == request.promptLength() - 1 ? request.promptLength() : cached) / block;
                    mirror.afterRequest(ticket, Math.min(cachedBlocks, promptHashes.length),
                            BlockHasher.sequenceHashes(local), local);
                    promptTokens.addAndGet(request.promptLength());
                    cachedPromptTokens.addAndGet(cached);
                }
                try {
                    sink.onFinish(reason, usage);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "[req=" + request.requestId() + "] token sink failed in "
                            + "onFinish", e);
                }
            }
        }

        private void fail(TandemException error) {
            synchronized (this) {
                if (done) {
                    return;
                }
                end(true);
                try {
                    sink.onError(error);
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "[req=" + request.requestId() + "] token sink failed in "
                            + "onError", e);
                }
            }
            if (error instanceof RequestException re && re.kind() == RequestException.Kind.WORKER_LOST) {
                probeSoon(); // so the worker leaves the registry soon
            }
        }

        /**
         * Marks the call done (under the lock); {@code abort} closes the stream, so the server stops
         * (a finished stream is read to its end instead, keeping the connection for the next call).
         */
        private void end(boolean abort) {
            done = true;
            running.remove(this);
            if (deadline != null) {
                deadline.cancel(false);
                headersDeadline.cancel(false);
            }
            StreamingHttp.Exchange x = exchange;
            if (abort && x != null) {
                x.abort();
            }
        }

        @Override
        public void cancel() {
            finish(FinishReason.CANCELLED, false);
        }
    }
}
