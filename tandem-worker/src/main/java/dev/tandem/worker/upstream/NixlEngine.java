package dev.tandem.worker.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.ConfigException;
import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvHandle;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.RemotePrefill;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.core.Usage;
import dev.tandem.runtime.PrefillFallback;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.runtime.rpc.PrefillService;
import dev.tandem.runtime.upstream.NixlDisaggClient;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;

import static java.lang.System.Logger.Level.INFO;

/**
 * An upstream server that moves KV blocks itself (vLLM with its NixlConnector,
 * {@code --kv-transfer-config '{"kv_connector":"NixlConnector","kv_role":"kv_both"}'}) as one side of
 * Tandem's disaggregation: the engine of an upstream worker of role prefill or decode. The
 * frontend's {@code Dispatcher} drives it exactly as it drives Tandem's own workers; only the
 * handle differs. It has been tested against servers written to vLLM's protocol, not a real vLLM.
 *
 * <pre>
 * prefill worker:  prefill(request) ─▶ POST /v1/completions  prompt ids, max_tokens 1, stream false,
 *                    kv_transfer_params {do_remote_decode: true, do_remote_prefill: false, remote_*: null}
 *                  ◀─ first token (token_ids, logprobs) + kv_transfer_params ─▶ PrefillResult(token,
 *                    KvHandle{endpoint nixl://prefill URL, transferParams = the params as JSON text})
 * decode worker:   submit(request + RemotePrefill(token, nixl handle)) ─▶ sink: the prefill's token,
 *                    then POST /v1/completions  prompt ids + [token], max_tokens - 1, stream true,
 *                    kv_transfer_params = the handle's ─▶ the server reads the blocks from its peer
 * </pre>
 *
 * <h2>Design</h2>
 * Both halves are in one class, as in Tandem's own {@code DisaggEngine}: the worker's role only
 * decides which pool the router takes it from. A prefill leg's prompt is announced as the
 * server's cache ({@link UpstreamEngine#prefilled}), as a streamed call's is, so the router's
 * choice of prefill server follows the prompts each one holds; while a leg runs its prompt counts
 * as queued prefill in {@link #load}, so the Dispatcher sees a busy prefill server. Both legs carry the request's id as
 * {@code X-Request-Id}, as vLLM's proxy sends them (the Dispatcher keeps one id for both halves).
 * <p>
 * Tandem's contract is that the client's first token is the one the prefill side sampled. vLLM's
 * own proxy instead resends the original prompt and lets the decode server sample the first token
 * again; here the decode leg's prompt is the prompt plus that token, so the decode server reads
 * the prompt's blocks (vLLM loads all but the last prompt position remotely: here exactly the
 * prefilled prompt) and computes only the first token's position. One consequence: presence and
 * frequency penalties on the decode server do not count the first token (vLLM applies them to
 * output tokens only).
 * <p>
 * A prefill leg that fails, is past its deadline or answers without {@code kv_transfer_params}
 * fails the prefill future, and the Dispatcher falls back to a local prefill on the decode
 * worker. On the decode side a handle this engine cannot use (a Tandem pool's handle, an expired
 * one, one for another prompt, a constrained request) is a local prefill there, by the same
 * {@link PrefillFallback} rule as Tandem's {@code KvImporter}, counted in
 * {@code tandem_disagg_fallbacks_total{reason}}; a decode leg that fails before its first token
 * (vLLM's default {@code kv_load_failure_policy} is "fail": an unreadable peer fails the request)
 * is sent once more without the parameters, so the server computes the prompt itself
 * ({@code transfer_failed}). When remote prefill is enforced, both are errors instead.
 * <p>
 * Release: vLLM frees the prefill's blocks itself once the decode server has read them, or after
 * {@code VLLM_NIXL_ABORT_REQUEST_TIMEOUT} (480 s by default) when nobody does; {@link #release}
 * does nothing and the handle expires after {@code handleTtlMs}.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. A prefill's future completes on the HTTP client's threads; a decode
 * leg's sink is called as {@link UpstreamEngine} calls it, one call at a time.
 *
 * <h2>References</h2>
 * vLLM {@code tests/v1/kv_connector/nixl_integration/toy_proxy_server.py},
 * {@code vllm/distributed/kv_transfer/kv_connector/v1/nixl_connector.py}.
 */
public final class NixlEngine implements Engine, PrefillService {
    private static final System.Logger LOG = System.getLogger(NixlEngine.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    /** vLLM's {@code VLLM_NIXL_ABORT_REQUEST_TIMEOUT} default: how long it keeps unread prefill blocks, ms. */
    public static final long DEFAULT_HANDLE_TTL_MS = 480_000;

    private final String workerId;
    private final UpstreamEngine upstream;
    private final DisaggMetrics metrics;
    private final long handleTtlMs;
    private final HttpClient http;
    private final TransferEndpoint endpoint;
    private final AtomicLong handleIds = new AtomicLong();
    /** Prompt tokens of the prefill legs in flight, added to the server's queued prefill in {@link #load}. */
    private final AtomicLong prefillingTokens = new AtomicLong();

    private NixlEngine(String workerId, UpstreamEngine upstream, DisaggMetrics metrics, long handleTtlMs) {
        this.workerId = workerId;
        this.upstream = upstream;
        this.metrics = metrics;
        this.handleTtlMs = handleTtlMs;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofMillis(upstream.config().connectTimeoutMs())).build();
        this.endpoint = new TransferEndpoint(TransferKind.NIXL, "", upstream.config().baseUri().toString());
    }

    /**
     * Wraps {@code upstream} (ownership passes here: closing this closes it).
     *
     * @param handleTtlMs how long a prefill's handle is valid, ms, &gt; 0 (vLLM's own timeout by default)
     * @throws ConfigException if the server's kind does not speak vLLM's disaggregation protocol
     *                         (the upstream engine is closed)
     */
    public static NixlEngine wrap(String workerId, UpstreamEngine upstream, DisaggMetrics metrics, long handleTtlMs) {
        String refusal = refusal(upstream.kind());
        if (refusal != null || handleTtlMs < 1) {
            upstream.close();
            throw new ConfigException(refusal != null ? "upstream " + upstream.config().baseUri() + ": " + refusal
                    : "the handle TTL must be at least 1 ms, got " + handleTtlMs);
        }
        return new NixlEngine(workerId, upstream, metrics, handleTtlMs);
    }

    /**
     * Why a server of {@code kind} cannot be a prefill or decode worker, or null if it can (vLLM,
     * and an OpenAI-compatible server said to speak vLLM's protocol); null kind (not yet detected)
     * passes here and is checked again once detected.
     */
    public static String refusal(UpstreamKind kind) {
        if (kind == null || kind == UpstreamKind.VLLM || kind == UpstreamKind.OPENAI) {
            return null;
        }
        return switch (kind) {
            case LLAMA_SERVER -> "llama-server has no disaggregated prefill/decode mode: run it with role aggregated";
            case SGLANG -> "SGLang's prefill/decode disaggregation is its own protocol (bootstrap host, port and room, "
                    + "through its mini load balancer), which Tandem does not speak: run it with role aggregated";
            case VLLM, OPENAI -> null;
        };
    }

    /** The external server's engine. */
    public UpstreamEngine upstream() {
        return upstream;
    }

    @Override
    public EngineInfo info() {
        return upstream.info();
    }

    /** The server's load, with the prompts of the prefill legs in flight as queued prefill. */
    @Override
    public LoadReport load() {
        LoadReport r = upstream.load();
        long prefilling = prefillingTokens.get();
        return prefilling == 0 ? r : new LoadReport(r.totalBlocks(), r.activeBlocks(), r.cachedBlocks(),
                r.runningSequences(), r.waitingSequences(), r.queuedPrefillTokens() + prefilling, r.promptTokens(),
                r.cachedPromptTokens());
    }

    @Override
    public AutoCloseable subscribe(KvEventListener listener) {
        return upstream.subscribe(listener);
    }

    @Override
    public KvSnapshot kvSnapshot() {
        return upstream.kvSnapshot();
    }

    @Override
    public void close() {
        http.close();
        upstream.close();
    }

    // ---- prefill side ----

    /** The prefill leg's body: the request as the server would get it, changed to prefill only for a peer. */
    ObjectNode prefillBody(GenerateRequest request) {
        return NixlDisaggClient.prefillBody(upstream.body(request.withoutRemotePrefill()));
    }

    @Override
    public CompletableFuture<PrefillResult> prefill(GenerateRequest request) {
        if (request.constraint() != null) {
            return CompletableFuture.failedFuture(new RequestException(RequestException.Kind.UNAVAILABLE,
                    "[req=" + request.requestId() + "] constrained output does not continue across an upstream "
                    + "prefill/decode pair", null, null));
        }
        UpstreamConfig config = upstream.config();
        HttpRequest post = HttpRequest.newBuilder(config.resolve("/v1/completions"))
                .timeout(Duration.ofMillis(config.requestTimeoutMs()))
                .header("Content-Type", "application/json").header("X-Request-Id", request.requestId())
                .POST(HttpRequest.BodyPublishers.ofString(prefillBody(request).toString())).build();
        prefillingTokens.addAndGet(request.promptLength());
        CompletableFuture<HttpResponse<byte[]>> call = http.sendAsync(post, HttpResponse.BodyHandlers.ofByteArray());
        CompletableFuture<PrefillResult> result = new CompletableFuture<>();
        call.whenComplete((response, error) -> {
            prefillingTokens.addAndGet(-request.promptLength());
            try {
                if (error != null) {
                    throw UpstreamErrors.fromTransport(config.baseUri().toString(), error);
                }
                result.complete(prefilled(request, response));
            } catch (TandemException e) {
                result.completeExceptionally(e);
            } catch (RuntimeException e) {
                result.completeExceptionally(UpstreamErrors.malformed(config.baseUri().toString(), e.toString()));
            }
        });
        result.whenComplete((r, t) -> {
            if (result.isCancelled()) {
                call.cancel(true); // the Dispatcher gave up (deadline, client gone): close the connection
            }
        });
        return result;
    }

    /** The prefill server's answer as Tandem's prefill result. */
    private PrefillResult prefilled(GenerateRequest request, HttpResponse<byte[]> response) {
        String server = upstream.config().baseUri().toString();
        String text = new String(response.body(), StandardCharsets.UTF_8);
        if (response.statusCode() != 200) {
            throw UpstreamErrors.fromStatus(server, response.statusCode(), text, JSON);
        }
        JsonNode answer;
        try {
            answer = JSON.readTree(text);
        } catch (IOException e) {
            throw UpstreamErrors.malformed(server, text);
        }
        JsonNode params = answer.path("kv_transfer_params");
        if (!params.isObject() || params.isEmpty()) {
            throw new RequestException(RequestException.Kind.UNAVAILABLE, "[req=" + request.requestId()
                    + "] prefill server " + server + " answered without kv_transfer_params (is it started with "
                    + "--kv-transfer-config and the NixlConnector?)", null, null);
        }
        JsonNode choice = answer.path("choices").path(0);
        JsonNode ids = choice.path("token_ids");
        int token;
        if (ids.isArray() && !ids.isEmpty() && ids.get(0).canConvertToInt()) {
            token = ids.get(0).asInt();
        } else {
            int[] fromText = choice.path("text").isTextual() ? upstream.textTokens(choice.path("text").asText())
                    : new int[0];
            if (fromText.length == 0) {
                throw UpstreamErrors.malformed(server, "a prefill answer without its token: " + choice);
            }
            token = fromText[0];
        }
        JsonNode logprob = choice.path("logprobs").path("token_logprobs").path(0);
        GeneratedToken first = request.topLogprobs() >= 0 && logprob.isNumber()
                ? new GeneratedToken(token, (float) logprob.asDouble(), null, null) : GeneratedToken.of(token);
        int n = request.promptLength();
        int reported = answer.path("usage").path("prompt_tokens_details").path("cached_tokens").asInt(-1);
        upstream.prefilled(request.promptTokens(), reported);
        int cached = Math.max(0, Math.min(n, reported));
        KvHandle handle = new KvHandle(handleIds.incrementAndGet(), workerId, List.of(endpoint), new int[0],
                new long[0], n, upstream.info().layout(), System.currentTimeMillis() + handleTtlMs, params.toString());
        metrics.prefillServed();
        return new PrefillResult(first, handle, new Usage(n, cached, 0, 1));
    }

    /** Nothing to release: the server frees the blocks itself (see the class notes). */
    @Override
    public boolean release(long handleId) {
        return false;
    }

    // ---- decode side ----

    @Override
    public RequestHandle submit(GenerateRequest request, TokenSink sink) {
        RemotePrefill prefill = request.remotePrefill();
        if (prefill == null) {
            return upstream.submit(request, sink);
        }
        GenerateRequest local = request.withoutRemotePrefill();
        Unusable unusable = unusable(request, prefill.handle());
        JsonNode params = null;
        if (unusable == null) {
            try {
                params = JSON.readTree(prefill.handle().transferParams());
            } catch (IOException e) {
                unusable = new Unusable("handle_mismatch", "handle " + prefill.handle().handleId() + " carries "
                        + "transfer parameters that are not JSON");
            }
        }
        if (unusable != null) {
            metrics.fallback(unusable.reason());
            RequestHandle h = PrefillFallback.prefillLocally(local, unusable.why(), prefill.required(), upstream,
                    workerId, sink, () -> false);
            return h != null ? h : ended(request);
        }
        GeneratedToken first = prefill.firstToken();
        int n = request.promptLength();
        sink.onToken(first);
        if (request.isStopToken(first.tokenId()) || request.maxTokens() == 1) {
            sink.onFinish(request.isStopToken(first.tokenId()) ? FinishReason.STOP : FinishReason.LENGTH,
                    new Usage(n, 0, 0, 1));
            return ended(request);
        }
        int[] prompt = Arrays.copyOf(local.promptTokens(), n + 1);
        prompt[n] = first.tokenId();
        GenerateRequest leg = new GenerateRequest(request.requestId(), prompt, request.sampling(),
                request.maxTokens() - 1, request.stopTokenIds(), request.ignoreEos(), request.topLogprobs());
        return new DecodeLeg(leg, params, prefill.required(), n, sink).start();
    }

    /**
     * Why a handle cannot be continued here.
     *
     * @param reason the {@code tandem_disagg_fallbacks_total} label
     * @param why    for the log and, when remote prefill is enforced, the error
     */
    private record Unusable(String reason, String why) {
    }

    /** Why this engine cannot continue {@code request} from {@code handle}, or null when it can. */
    private static Unusable unusable(GenerateRequest request, KvHandle handle) {
        if (!handle.movedByEngines()) {
            return new Unusable("handle_foreign", "handle " + handle.handleId() + " of " + handle.workerId()
                    + " is a Tandem pool's (" + handle.endpoints() + "), which an external server cannot read");
        }
        if (handle.expired(System.currentTimeMillis())) {
            return new Unusable("transfer_expired", "handle " + handle.handleId() + " of " + handle.workerId()
                    + " expired at " + handle.expiresAtEpochMs());
        }
        if (handle.promptTokens() != request.promptLength()) {
            return new Unusable("handle_mismatch", "handle " + handle.handleId() + " covers "
                    + handle.promptTokens() + " prompt tokens, the request has " + request.promptLength());
        }
        if (request.constraint() != null) {
            return new Unusable("constrained_output", "constrained output does not continue on an upstream decode "
                    + "worker from another server's first token");
        }
        return null;
    }

    private static RequestHandle ended(GenerateRequest request) {
        return new RequestHandle() {
            @Override
            public String requestId() {
                return request.requestId();
            }

            @Override
            public void cancel() {
                // already ended
            }
        };
    }

    /**
     * One decode leg: the server's tokens follow the prefill's first token; its usage is the
     * client's prompt. A leg that fails before its first token is sent once more without the
     * transfer parameters (unless remote prefill is enforced).
     */
    private final class DecodeLeg implements RequestHandle, TokenSink {
        private final GenerateRequest leg;
        private final JsonNode params;
        private final boolean required;
        private final int promptTokens;
        private final TokenSink sink;
        /** Whether the server has sent a token of this leg (the sink's calls come one at a time). */
        private boolean streaming;
        /** Whether the leg now runs without the parameters (the server computes the prompt). */
        private boolean local;
        private boolean cancelled; // guarded by this
        private RequestHandle running; // guarded by this

        DecodeLeg(GenerateRequest leg, JsonNode params, boolean required, int promptTokens, TokenSink sink) {
            this.leg = leg;
            this.params = params;
            this.required = required;
            this.promptTokens = promptTokens;
            this.sink = sink;
        }

        DecodeLeg start() {
            RequestHandle h;
            try {
                h = upstream.submitDecodeLeg(leg, params, this);
            } catch (RequestException e) {
                sink.onError(e);
                return this;
            }
            synchronized (this) {
                running = h;
            }
            return this;
        }

        @Override
        public String requestId() {
            return leg.requestId();
        }

        @Override
        public void cancel() {
            RequestHandle h;
            synchronized (this) {
                cancelled = true;
                h = running;
            }
            if (h != null) {
                h.cancel();
            }
        }

        @Override
        public void onToken(GeneratedToken token) {
            streaming = true;
            sink.onToken(token);
        }

        @Override
        public void onFinish(FinishReason reason, Usage usage) {
            int fromCache = Math.min(usage.cachedPromptTokens(), promptTokens);
            sink.onFinish(reason, local ? new Usage(promptTokens, fromCache, 0, usage.completionTokens() + 1)
                    : new Usage(promptTokens, 0, fromCache, usage.completionTokens() + 1));
        }

        @Override
        public void onError(TandemException error) {
            boolean again;
            synchronized (this) {
                again = !streaming && !local && !required && !cancelled
                        && !(error instanceof RequestException re && re.kind() == RequestException.Kind.INVALID);
                local |= again;
            }
            if (!again) {
                sink.onError(error);
                return;
            }
            metrics.fallback("transfer_failed");
            LOG.log(INFO, "[req={0}] decode leg on {1} failed before its first token ({2}); sending it without the "
                    + "prefill''s blocks", leg.requestId(), upstream.config().baseUri(), error.getMessage());
            Thread.ofVirtual().name("tandem-nixl-local-" + leg.requestId()).start(() -> {
                try {
                    RequestHandle h = upstream.submit(leg, this);
                    synchronized (this) {
                        running = h;
                        if (cancelled) {
                            h.cancel();
                        }
                    }
                } catch (RequestException e) {
                    sink.onError(e);
                }
            });
        }
    }
}
