package dev.tandem.frontend;

import dev.tandem.core.GeneratedToken;
import dev.tandem.frontend.AdmissionQueue.Permit;
import dev.tandem.frontend.WorkerSelector.Selection;
import dev.tandem.frontend.openai.ApiException;
import dev.tandem.frontend.openai.ChoiceResult;
import dev.tandem.frontend.openai.CompletionSpec;
import dev.tandem.frontend.openai.Endpoint;
import dev.tandem.frontend.openai.RequestParser;
import dev.tandem.frontend.openai.ResponseWriter;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Serves {@code POST /v1/chat/completions} and {@code POST /v1/completions}: parse, preprocess,
 * admit, route, generate, and answer as one JSON body or as server-sent events.
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

    private final FrontendServer server;

    CompletionHandler(FrontendServer server) {
        this.server = server;
    }

    /** Serves one request and returns the status it ended with (for metrics). */
    int serve(Endpoint endpoint, ServerRequest req, ServerResponse res, long startNs) {
        server.checkApiKey(req);
        byte[] body = server.readBody(req);
        CompletionSpec spec = RequestParser.parse(endpoint, body);
        ServedModel model = server.resolveModel(spec.model());
        List<Worker> candidates = server.workers().servingModel(model.name());
        if (candidates.isEmpty()) {
            throw ApiException.unavailable("No worker serves model '" + model.name() + "' yet; retry later");
        }
        Worker first = candidates.getFirst();
        Preprocessor.Prepared prepared = Preprocessor.prepare(spec, model.text(), first.info().contextLength(),
                first.blockSizeTokens());
        try (Permit permit = server.admit(spec.choiceCount())) {
            String requestId = server.newRequestId(endpoint);
            List<Selection> selections = new ArrayList<>(prepared.prompts().size());
            List<Dispatcher.Plan> plans = new ArrayList<>(prepared.prompts().size());
            Generation g;
            try {
                route(requestId, spec, prepared, candidates, model.name(), selections, plans);
                g = Generation.start(requestId, spec, prepared.prompts(), selections, plans, prepared.maxTokens(),
                        model.text(), !spec.stream(), server.dispatcher(), model.name(), first.blockSizeTokens());
            } catch (RuntimeException e) {
                for (Selection s : selections) {
                    server.selector().finished(s);
                }
                throw e;
            }
            server.track(g);
            try {
                ResponseWriter writer = new ResponseWriter(endpoint, requestId,
                        TimeUnit.MILLISECONDS.toSeconds(System.currentTimeMillis()), model.name(), model.text(),
                        spec.includeUsage());
                return spec.stream() ? stream(g, spec, writer, res, startNs) : whole(g, spec, writer, res, startNs);
            } finally {
                g.cancelAll();
                server.untrack(g);
                for (Selection s : g.routingDecisions()) {
                    server.selector().finished(s);
                }
            }
        }
    }

    /** Routes every prompt to a decode (or aggregated) worker and plans its prefill (see {@link Dispatcher}). */
    private void route(String requestId, CompletionSpec spec, Preprocessor.Prepared prepared, List<Worker> candidates,
                       String model, List<Selection> selections, List<Dispatcher.Plan> plans) {
        for (PreparedPrompt p : prepared.prompts()) {
            RoutingRequest routing = p.routingRequest(requestId, spec.user());
            Selection s = server.selector().select(routing, candidates);
            selections.add(s);
            plans.add(server.dispatcher().plan(routing, s, prepared.maxTokens(), model));
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
                        writer.chunk(out, d.choice(), withRole, d.text(), spec.logprobs() ? d.tokens() : null,
                                d.offsets(), spec.topLogprobs(), d.finishReason());
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
            results.add(new ChoiceResult(c, s.fullText(), s.finishReason(), tokens,
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
            Generation.Event e = g.next(TimeUnit.MILLISECONDS.toNanos(server.config().tokenTimeoutMs()));
            if (e == null) {
                g.fail(ApiException.unavailable("[req=" + g.requestId() + "] no output from the worker for "
                        + server.config().tokenTimeoutMs() + " ms"));
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
                    server.metrics().firstToken((t.atNs() - startNs) / 1e9);
                }
                if (c.index() % g.n() == 0) {
                    server.selector().firstToken(g.selection(c.index() / g.n()));
                }
            } else {
                server.metrics().interToken((t.atNs() - previous) / 1e9);
            }
        }
        return g.apply(e);
    }

    private void recordTokens(Generation g) {
        var usage = g.usage();
        server.metrics().tokens(usage.promptTokens(), usage.completionTokens(), usage.cachedPromptTokens(),
                g.predictedCachedTokens());
    }

    private int clientGone(Generation g, Exception e) {
        g.cancelAll();
        LOG.log(System.Logger.Level.INFO, "[req={0}] client disconnected (499), generation cancelled: {1}",
                g.requestId(), e.toString());
        return CLIENT_CLOSED;
    }
}
