package dev.tandem.frontend;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvHandle;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.RemotePrefill;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.frontend.openai.ApiException;
import dev.tandem.runtime.PrefillFallback;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.runtime.rpc.PrefillService;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static java.lang.System.Logger.Level.INFO;

/**
 * Decides, per prompt, whether a prefill worker computes it (disaggregated) or the decode worker
 * does (local), starts each choice accordingly, and re-issues a stream whose decode worker was
 * lost.
 *
 * <h2>Design: the request path</h2>
 * <pre>
 * router: decode worker D (decode pool, by overlap and load)            CompletionHandler.route
 * plan:   lacking = prompt - D's predicted cached tokens                {@link #plan}
 *         prefill workers exist, max_tokens > 1, lacking >= disagg-min-tokens (or enforced)
 *           and a prefill worker is not busy (router over the prefill pool, by overlap and load)
 *           yes ─▶ remote: P                      no ─▶ local: D prefills itself
 * launch: remote: P.prefill(request) ─▶ first token + KvHandle (P pins the blocks)   {@link #launch}
 *                 D.submit(request + RemotePrefill{token, handle, P's address}):
 *                   D pulls the blocks it lacks, releases P's pin, streams the token, decodes
 *         local:  D.submit(request)
 * </pre>
 * The client sees D's stream only; its first token is the one P sampled. The prefill half's
 * routing decision is closed (prefill done, finished) as soon as P answers or fails.
 *
 * <h2>Failures</h2>
 * <ul>
 *   <li>P unreachable (WORKER_LOST), past {@code prefillTimeoutMs} (the prefill is cancelled),
 *       or failed: {@code tandem_disagg_fallbacks_total{reason=prefill_unreachable|prefill_timeout|
 *       prefill_failed}} and D receives the plain request (a local prefill); with
 *       {@code enforceDisagg} the choice fails with UNAVAILABLE (503) instead; the rule is
 *       {@code PrefillFallback}'s, which the decode worker follows too.</li>
 *   <li>The pull fails on D (P died during the transfer, ...): D itself falls back, see
 *       {@code KvImporter}.</li>
 *   <li>D lost mid-stream: the request thread ({@code Generation}) calls {@link #migrate} with
 *       the tokens already received; migration is decided here (the limit, the budget left),
 *       and the prompt plus those tokens is routed and launched like a new request; the new
 *       stream continues the same choice.</li>
 *   <li>The client goes away ({@link RequestHandle#cancel()}): during the prefill the prefill is
 *       cancelled (P frees its blocks, or releases the pin if it had just made it); a handle
 *       that arrives after the cancel is released here; once D has the request, D's cancel frees
 *       D's blocks (and D releases the pin if it was still pulling). A pin nobody releases
 *       expires after the handle TTL.</li>
 * </ul>
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. A remote launch's prefill outcome (answer, failure, timeout or
 * cancel) is settled once by a compare-and-set; its cancel flag and decode handle are guarded by
 * the launch's monitor, so a cancel either reaches the decode request or stops it from starting.
 * Prefill callbacks run on the prefill client's threads (gRPC callback virtual threads, or the
 * engine thread in process) and only submit; releases of unused handles run on virtual threads.
 */
final class Dispatcher {
    private static final System.Logger LOG = System.getLogger(Dispatcher.class.getName());

    /**
     * How one prompt is served.
     *
     * @param decode  the worker that streams the answer
     * @param prefill the worker that computes the prompt, or null when {@code decode} does
     */
    record Plan(RoutedRequest decode, RoutedRequest prefill) {
        boolean remote() {
            return prefill != null;
        }
    }

    /** What became of a stream whose decode worker was lost (see {@link #migrate}). */
    sealed interface Migration permits Moved, AlreadyComplete, Stays {
    }

    /** It goes on on another decode worker: its new routing decision and handle. */
    record Moved(RoutedRequest decode, RequestHandle handle) implements Migration {
    }

    /** Every token had arrived; only the finish was lost: the stream ends with {@code length}. */
    record AlreadyComplete(Usage usage) implements Migration {
    }

    /** It cannot move (the migration limit is reached, or no other worker serves the model): it fails. */
    record Stays(String why) implements Migration {
    }

    private final DispatchConfig config;
    private final WorkerSelector selector;
    private final WorkerSet workers;
    private final DisaggMetrics metrics;

    Dispatcher(DispatchConfig config, WorkerSelector selector, WorkerSet workers, DisaggMetrics metrics) {
        this.config = config;
        this.selector = selector;
        this.workers = workers;
        this.metrics = metrics;
    }

    /**
     * Decides remote or local prefill for a prompt routed to {@code decode}.
     *
     * @throws ApiException 503 when remote prefill is enforced and no prefill worker serves the model
     */
    Plan plan(RoutingRequest routing, RoutedRequest decode, int maxTokens, String model) {
        List<Worker> prefill = workers.prefillingModel(model);
        boolean enforce = config.enforceDisagg();
        if (prefill.isEmpty()) {
            if (enforce) {
                throw ApiException.unavailable("[req=" + routing.requestId() + "] remote prefill is enforced "
                        + "(--enforce-disagg) but no prefill worker serves model '" + model + "'; retry later");
            }
            return new Plan(decode, null); // an aggregated deployment: nothing to count
        }
        if (!enforce) {
            if (maxTokens < 2) {
                return local(decode, DisaggMetrics.Path.NOT_SPLITTABLE);
            }
            int lacking = routing.promptTokens() - decode.predictedCachedTokens();
            if (lacking < config.disaggMinTokens()) {
                return local(decode, DisaggMetrics.Path.SHORT_PROMPT);
            }
        }
        RoutedRequest p = selector.selectPrefill(routing, prefill,
                enforce ? Long.MAX_VALUE : config.prefillBusyQueuedTokens());
        if (p == null) {
            if (enforce) {
                throw ApiException.unavailable("[req=" + routing.requestId() + "] remote prefill is enforced "
                        + "(--enforce-disagg) but no prefill worker of model '" + model + "' can take it; retry later");
            }
            return local(decode, DisaggMetrics.Path.PREFILL_BUSY);
        }
        metrics.request(DisaggMetrics.Path.REMOTE);
        return new Plan(decode, p);
    }

    private Plan local(RoutedRequest decode, DisaggMetrics.Path reason) {
        metrics.request(reason);
        return new Plan(decode, null);
    }

    /**
     * Starts one choice as planned; events reach {@code sink}.
     *
     * @throws RequestException if the decode worker refuses a local request outright
     */
    RequestHandle launch(Plan plan, GenerateRequest request, TokenSink sink) {
        if (!plan.remote()) {
            return plan.decode().worker().engine().submit(request, sink);
        }
        RemoteLaunch l = new RemoteLaunch(plan, request, sink);
        l.start();
        return l;
    }

    /**
     * Moves a stream whose decode worker was lost to another decode worker: {@code original}'s
     * prompt plus the {@code receivedCount} tokens already streamed ({@code received}), with the
     * rest of its token budget, routed and planned like a new request, so the client's stream goes
     * on with neither a repeat nor a gap. Counted in {@code tandem_frontend_migrations_total{outcome}}.
     *
     * @param migrationsSoFar how often this stream has moved already (the limit is the config's)
     * @param routes          the request's routing decisions; the new one joins them (and is closed with them)
     */
    Migration migrate(GenerateRequest original, int[] received, int receivedCount, int migrationsSoFar,
                      String lostWorkerId, String model, int blockSize, String user, TokenSink sink,
                      RoutedRequests routes) {
        if (migrationsSoFar >= config.migrationLimit()) {
            metrics.migration("limit_reached");
            return new Stays("the stream moved " + migrationsSoFar + " times already");
        }
        int remaining = original.maxTokens() - receivedCount;
        if (remaining < 1) {
            return new AlreadyComplete(new Usage(original.promptLength(), 0, 0, receivedCount));
        }
        int[] prompt = Arrays.copyOf(original.promptTokens(), original.promptLength() + receivedCount);
        System.arraycopy(received, 0, prompt, original.promptLength(), receivedCount);
        GenerateRequest continued = original.continueWith(original.requestId() + "-m" + (migrationsSoFar + 1), prompt,
                remaining);
        List<Worker> candidates = workers.servingModel(model).stream().filter(w -> !w.id().equals(lostWorkerId))
                .toList();
        try {
            if (candidates.isEmpty()) {
                throw ApiException.unavailable("[req=" + continued.requestId() + "] worker " + lostWorkerId
                        + " was lost and no other worker serves model '" + model + "'");
            }
            RoutingRequest routing = new RoutingRequest(continued.requestId(),
                    BlockHasher.sequenceHashes(prompt, blockSize), prompt.length, user);
            RoutedRequest decode = routes.add(selector.select(routing, candidates));
            Plan plan = plan(routing, decode, continued.maxTokens(), model);
            if (plan.remote()) {
                routes.add(plan.prefill());
            }
            Moved moved = new Moved(decode, launch(plan, continued, sink));
            metrics.migration("migrated");
            return moved;
        } catch (ApiException | RequestException e) {
            metrics.migration("no_worker");
            return new Stays(e.getMessage());
        }
    }

    /** The prefill worker's request-plane address for the decode worker's release; empty in process. */
    private static String addressOf(Worker w) {
        return w.engine() instanceof RemoteWorkerEngine r ? r.client().address() : "";
    }

    /** One disaggregated choice; see the class notes. */
    private final class RemoteLaunch implements RequestHandle {
        private final Plan plan;
        private final GenerateRequest request;
        private final TokenSink sink;
        private final PrefillService prefill;
        /** The prefill outcome (answer, failure, timeout, cancel) is handled by whoever sets this first. */
        private final AtomicBoolean settled = new AtomicBoolean();
        /** When the prefill was asked for, and when its answer came (nanoTime), for the handoff metrics. */
        private long launchNanos;
        private volatile long answeredNanos;
        /** Set by start() before any callback can run; read by cancel(). */
        private volatile CompletableFuture<PrefillResult> prefilling;
        private boolean cancelled; // guarded by this
        private RequestHandle decode; // guarded by this

        RemoteLaunch(Plan plan, GenerateRequest request, TokenSink sink) {
            this.plan = plan;
            this.request = request;
            this.sink = sink;
            this.prefill = plan.prefill().worker().engine() instanceof PrefillService p ? p : null;
        }

        @Override
        public String requestId() {
            return request.requestId();
        }

        void start() {
            if (prefill == null) {
                settled.set(true);
                routingDone();
                fallBack("prefill_failed", "worker " + plan.prefill().worker().id() + " does not prefill for others");
                return;
            }
            CompletableFuture<PrefillResult> f;
            launchNanos = System.nanoTime();
            try {
                f = prefill.prefill(request);
            } catch (RuntimeException e) {
                f = CompletableFuture.failedFuture(e);
            }
            prefilling = f;
            CompletableFuture<PrefillResult> watched = f;
            CompletableFuture.delayedExecutor(config.prefillTimeoutMs(), TimeUnit.MILLISECONDS)
                    .execute(() -> timedOut(watched));
            f.whenComplete(this::prefilled);
        }

        private void timedOut(CompletableFuture<PrefillResult> f) {
            if (f.isDone() || !settled.compareAndSet(false, true)) {
                return;
            }
            f.cancel(true);
            routingDone();
            fallBack("prefill_timeout", "prefill worker " + plan.prefill().worker().id() + " did not answer within "
                    + config.prefillTimeoutMs() + " ms");
        }

        private void prefilled(PrefillResult result, Throwable error) {
            if (!settled.compareAndSet(false, true)) {
                if (result != null) {
                    releaseUnused(result.handle()); // answered after a timeout or a cancel
                }
                return;
            }
            routingDone();
            if (error == null) {
                startDecode(result);
                return;
            }
            Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
            String reason = cause instanceof RequestException re ? switch (re.kind()) {
                case WORKER_LOST -> "prefill_unreachable";
                case TIMEOUT -> "prefill_timeout";
                case INVALID, UNAVAILABLE, OVERLOADED, CANCELLED, INTERNAL -> "prefill_failed";
            } : "prefill_failed";
            fallBack(reason, "prefill on worker " + plan.prefill().worker().id() + " failed: " + cause.getMessage());
        }

        private void startDecode(PrefillResult result) {
            answeredNanos = System.nanoTime();
            KvHandle handle = result.handle();
            synchronized (this) {
                if (cancelled) {
                    releaseUnused(handle);
                    sink.onFinish(FinishReason.CANCELLED, new Usage(request.promptLength(), 0, 0, 0));
                    return;
                }
                GenerateRequest decodeRequest = request.withRemotePrefill(new RemotePrefill(result.firstToken(), handle,
                        addressOf(plan.prefill().worker()), config.enforceDisagg()));
                try {
                    decode = plan.decode().worker().engine().submit(decodeRequest, timed(sink));
                } catch (RuntimeException e) {
                    releaseUnused(handle);
                    sink.onError(e instanceof RequestException re ? re : new RequestException(
                            RequestException.Kind.INTERNAL, "[req=" + request.requestId() + "] decode worker refused: "
                            + e.getMessage(), null, e));
                }
            }
        }

        private void fallBack(String reason, String why) {
            metrics.fallback(reason);
            synchronized (this) {
                decode = PrefillFallback.prefillLocally(request, why, config.enforceDisagg(),
                        plan.decode().worker().engine(), plan.decode().worker().id(), sink, () -> cancelled);
            }
        }

        @Override
        public void cancel() {
            RequestHandle h;
            synchronized (this) {
                if (cancelled) {
                    return;
                }
                cancelled = true;
                h = decode;
            }
            if (h != null) {
                h.cancel();
                return;
            }
            CompletableFuture<PrefillResult> f = prefilling;
            if (f != null && settled.compareAndSet(false, true)) {
                f.cancel(true);
                routingDone();
                sink.onFinish(FinishReason.CANCELLED, new Usage(request.promptLength(), 0, 0, 0));
            }
        }

        /**
         * The decode half's sink, noting when its first token arrives (with the remote prefill's
         * first token, which the decode worker streams once its pull is done).
         */
        private TokenSink timed(TokenSink target) {
            return new TokenSink() {
                private boolean first = true; // the decode worker calls its sink from one thread at a time

                @Override
                public void onToken(GeneratedToken token) {
                    if (first) {
                        first = false;
                        long now = System.nanoTime();
                        metrics.remoteFirstToken(now - launchNanos, now - answeredNanos);
                    }
                    target.onToken(token);
                }

                @Override
                public void onFinish(FinishReason reason, Usage usage) {
                    target.onFinish(reason, usage);
                }

                @Override
                public void onError(TandemException error) {
                    target.onError(error);
                }
            };
        }

        /** The prefill half no longer loads its worker in the router's view. */
        private void routingDone() {
            plan.prefill().close();
        }

        private void releaseUnused(KvHandle handle) {
            if (prefill == null) {
                return;
            }
            Thread.ofVirtual().name("tandem-release-" + handle.handleId()).start(() -> {
                try {
                    prefill.release(handle.handleId());
                } catch (RuntimeException e) {
                    LOG.log(INFO, "[req={0}] releasing unused handle {1} on {2} failed ({3}); it expires by itself",
                            request.requestId(), handle.handleId(), handle.workerId(), e.getMessage());
                }
            });
        }
    }
}
