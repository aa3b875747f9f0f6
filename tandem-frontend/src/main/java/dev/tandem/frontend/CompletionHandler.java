package dev.tandem.frontend;

import dev.tandem.core.GeneratedToken;
import dev.tandem.frontend.AdmissionQueue.Permit;
import dev.tandem.frontend.openai.ApiException;
import dev.tandem.frontend.openai.ChoiceResult;
import dev.tandem.frontend.openai.CompletionSpec;
import dev.tandem.frontend.openai.Endpoint;
import dev.tandem.frontend.openai.ResponseWriter;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The request pipeline of {@code POST /v1/chat/completions} and {@code POST /v1/completions}: owns
 * one request from its parsed body ({@link CompletionSpec}) to the last byte of the answer:
 * preprocess, admit, route ({@link RoutedRequests}, closed however the request ends), generate
 * ({@link Generation}), and answer as one JSON body or as server-sent events. Its collaborators
 * are given at construction; it does not call back into the HTTP server.
 *
 * <h2>Design: the streaming path</h2>
 * The request runs on its own virtual thread, which blocks on the request's event queue
 * ({@link Generation}). Each wake-up drains every event already queued, appends one SSE frame
 * ({@code data: {json}\n\n}) per visible change to Helidon's response stream, and flushes once:
 * one flush per token when the client keeps up, fewer when several tokens (or several choices)
 * are waiting, and never a token held back by the server's own buffering. TCP_NODELAY is on, so a
 * flushed frame leaves at once. The status line is committed by the first frame, which is written
 * when the first token exists; an error before that is still a proper HTTP status, an error after
 * it becomes an error event. Text is only what is certain: whole UTF-8 characters, minus any tail
 * that could still become a stop string.
 * <p>
 * A client that goes away makes a write fail; every engine sequence of the request is then
 * cancelled (their KV blocks return to the pool within one engine step) and the request is
 * counted as 499. A non-streamed request notices only when its response is written, so it runs to
 * its end (bounded by {@code max_tokens}) first.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use: per-request state lives on the request thread.
 */
final class CompletionHandler {
    private static final System.Logger LOG = System.getLogger(CompletionHandler.class.getName());
    /** HTTP status recorded (never sent) when the client went away. */
    static final int CLIENT_CLOSED = 499;

    /** Waits for room for {@code sequences} engine sequences (429 / 503 as {@link ApiException}). */
    @FunctionalInterface
    interface Admission {
        Permit admit(int sequences);
    }

    private final FrontendConfig config;
    private final Function<String, ServedModel> models;
    private final WorkerSet workers;
    private final WorkerSelector selector;
    private final Dispatcher dispatcher;
    private final Admission admission;
    private final Function<Endpoint, String> requestIds;
    private final Set<Generation> running;
    private final FrontendMetrics metrics;

    /**
     * @param models     the served model a request names (null: the only one); throws
     *                   {@link ApiException} for an unknown one
     * @param requestIds a new request id per request
     * @param running    where a request's {@link Generation} stays while it runs (so shutdown can
     *                   cancel it)
     */
    CompletionHandler(FrontendConfig config, Function<String, ServedModel> models, WorkerSet workers,
                      WorkerSelector selector, Dispatcher dispatcher, Admission admission,
                      Function<Endpoint, String> requestIds, Set<Generation> running, FrontendMetrics metrics) {
        this.config = config;
        this.models = models;
        this.workers = workers;
        this.selector = selector;
        this.dispatcher = dispatcher;
        this.admission = admission;
        this.requestIds = requestIds;
        this.running = running;
        this.metrics = metrics;
    }

    /** Serves one parsed request to its last byte and returns the status it ended with (for metrics). */
    int serve(CompletionSpec spec, ServerResponse res, long startNs) {
        Endpoint endpoint = spec.endpoint();
        ServedModel model = models.apply(spec.model());
        List<Worker> candidates = workers.servingModel(model.name());
        if (candidates.isEmpty()) {
            throw ApiException.unavailable("No worker serves model '" + model.name() + "' yet; retry later");
        }
        Worker first = candidates.getFirst();
        Preprocessor.Prepared prepared = Preprocessor.prepare(spec, model.text(), first.info().contextLength(),
                first.blockSizeTokens());
        try (Permit permit = admission.admit(spec.choiceCount()); RoutedRequests routes = new RoutedRequests()) {
            String requestId = requestIds.apply(endpoint);
            List<RoutedRequest> selections = new ArrayList<>(prepared.prompts().size());
            List<Dispatcher.Plan> plans = new ArrayList<>(prepared.prompts().size());
            route(requestId, spec, prepared, candidates, model.name(), routes, selections, plans);
            Generation g = Generation.start(requestId, spec, prepared, selections, routes, plans, model.text(),
                    !spec.stream(), dispatcher, model.name(), first.blockSizeTokens());
            running.add(g);
            try {
                ResponseWriter writer = new ResponseWriter(endpoint, requestId,
                        TimeUnit.MILLISECONDS.toSeconds(System.currentTimeMillis()), model.name(), model.text(),
                        spec.includeUsage());
                return spec.stream() ? stream(g, spec, writer, res, startNs) : whole(g, spec, writer, res, startNs);
            } finally {
                g.cancelAll();
                running.remove(g);
            }
        }
    }

    /**
     * Routes every prompt to a decode (or aggregated) worker and plans its prefill (see
     * {@link Dispatcher}); every decision joins {@code routes} as soon as it is made.
     */
    private void route(String requestId, CompletionSpec spec, Preprocessor.Prepared prepared, List<Worker> candidates,
                       String model, RoutedRequests routes, List<RoutedRequest> selections,
                       List<Dispatcher.Plan> plans) {
        for (PreparedPrompt p : prepared.prompts()) {
            RoutingRequest routing = p.routingRequest(requestId, spec.user());
            RoutedRequest s = routes.add(selector.select(routing, candidates));
            selections.add(s);
            Dispatcher.Plan plan = dispatcher.plan(routing, s, prepared.maxTokens(), model);
            if (plan.remote()) {
                routes.add(plan.prefill()); // closed early when the prefill answers; here if it never starts
            }
            plans.add(plan);
        }
    }

    /** Server-sent events; see the class notes. */
    private int stream(Generation g, CompletionSpec spec, ResponseWriter writer, ServerResponse res, long startNs) {
        // The stream opens with the first chunk: a failure before it (no worker, a prefill
        // that timed out under --enforce-disagg) is still an ordinary error status.
        OutputStream out = null;
        boolean[] roleSent = new boolean[g.choiceCount()];
        try {
            while (!(g.allOutputDone() && g.allEngineDone()) && g.failure() == null) {
                Generation.Event e = nextEvent(g);
                boolean wrote = false;
                if (e == null) {
                    continue;
                }
                for (; e != null && g.failure() == null; e = g.poll()) {
                    ChoiceState.Delta d = apply(g, e, startNs);
                    if (d != null && !d.isEmpty() && g.failure() == null) {
                        out = out != null ? out : openStream(res);
                        boolean withRole = spec.endpoint() == Endpoint.CHAT && !roleSent[d.choice()];
                        roleSent[d.choice()] = true;
                        writer.chunk(out, d.choice(), withRole, d.text(), d.toolCalls(),
                                spec.logprobs() ? d.tokens() : null, d.offsets(), spec.topLogprobs(), d.finishReason());
                        wrote = true;
                    }
                }
                if (wrote) {
                    out.flush();
                }
            }
            if (g.failure() != null) {
                if (out == null) {
                    throw g.failure();
                }
                writer.errorEvent(out, g.failure());
                ResponseWriter.done(out);
                out.flush();
                return g.failure().status();
            }
            recordTokens(g);
            out = out != null ? out : openStream(res);
            if (spec.includeUsage()) {
                writer.usageChunk(out, g.usage());
            }
            ResponseWriter.done(out);
            out.flush();
            return 200;
        } catch (IOException | UncheckedIOException e) {
            return clientGone(g, e);
        } catch (ApiException e) {
            throw e;
        } catch (RuntimeException e) {
            // Helidon reports a broken connection with its own unchecked exceptions
            return clientGone(g, e);
        }
    }

    private static OutputStream openStream(ServerResponse res) {
        res.header(HeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        res.header(HeaderNames.CACHE_CONTROL, "no-cache");
        return res.outputStream();
    }

    /** One JSON body once every choice has finished. */
    private int whole(Generation g, CompletionSpec spec, ResponseWriter writer, ServerResponse res, long startNs) {
        while (!(g.allOutputDone() && g.allEngineDone()) && g.failure() == null) {
            Generation.Event e = nextEvent(g);
            if (e != null) {
                apply(g, e, startNs);
            }
        }
        if (g.failure() != null) {
            throw g.failure();
        }
        List<ChoiceResult> results = new ArrayList<>(g.choiceCount());
        for (int c = 0; c < g.choiceCount(); c++) {
            ChoiceState s = g.choice(c);
            List<GeneratedToken> tokens = spec.logprobs() ? s.allTokens() : List.of();
            results.add(new ChoiceResult(c, s.fullText(), s.toolCalls(), s.finishReason(), tokens,
                    spec.logprobs() ? s.allOffsets() : List.of()));
        }
        recordTokens(g);
        byte[] body = writer.response(results, spec.topLogprobs(), g.usage());
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        try {
            res.send(body);
            return 200;
        } catch (RuntimeException e) {
            return clientGone(g, e);
        }
    }

    /**
     * Waits for the next event. A worker silent past the token timeout, or an interrupt, fails the
     * request ({@link Generation#failure()}) and returns null.
     */
    private Generation.Event nextEvent(Generation g) {
        try {
            Generation.Event e = g.next(TimeUnit.MILLISECONDS.toNanos(config.tokenTimeoutMs()));
            if (e == null) {
                g.fail(ApiException.unavailable("[req=" + g.requestId() + "] no output from the worker for "
                        + config.tokenTimeoutMs() + " ms"));
            }
            return e;
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
            g.fail(ApiException.unavailable("[req=" + g.requestId() + "] interrupted (server shutting down)"));
            return null;
        }
    }

    private ChoiceState.Delta apply(Generation g, Generation.Event e, long startNs) {
        if (e instanceof Generation.TokenEvent t) {
            ChoiceState c = g.choice(t.choice());
            long previous = c.swapLastTokenNs(t.atNs());
            if (previous == 0) {
                if (c.index() == 0) {
                    metrics.firstToken((t.atNs() - startNs) / 1e9);
                }
                if (c.index() % g.n() == 0) {
                    g.selection(c.index() / g.n()).firstToken();
                }
            } else {
                metrics.interToken((t.atNs() - previous) / 1e9);
            }
        }
        return g.apply(e);
    }

    private void recordTokens(Generation g) {
        var usage = g.usage();
        metrics.tokens(usage.promptTokens(), usage.completionTokens(), usage.cachedPromptTokens(),
                g.predictedCachedTokens());
    }

    private int clientGone(Generation g, Exception e) {
        g.cancelAll();
        LOG.log(System.Logger.Level.INFO, "[req={0}] client disconnected (499), generation cancelled: {1}",
                g.requestId(), e.toString());
        return CLIENT_CLOSED;
    }
}
