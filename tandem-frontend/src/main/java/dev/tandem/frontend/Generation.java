package dev.tandem.frontend;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.SamplingParams;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.frontend.openai.ApiException;
import dev.tandem.frontend.openai.CompletionSpec;
import dev.tandem.frontend.text.TextModel;
import dev.tandem.frontend.tools.ToolCallFormat;
import dev.tandem.frontend.tools.ToolCallParser;
import dev.tandem.frontend.tools.ToolSet;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * The engine side of one HTTP request: one engine sequence per choice, their output events in
 * one queue, and the per-choice text state.
 *
 * <h2>Design</h2>
 * Engines call a {@link TokenSink} on their scheduler thread and must never be blocked, so each
 * sink only timestamps the event and appends it to an unbounded queue (bounded in practice by
 * {@code max_tokens} per choice). The request's own (virtual) thread takes events from the queue,
 * turns them into text ({@link ChoiceState}) and writes the response. A choice whose stop string
 * appeared is cancelled at once, so its blocks go back to the pool within one engine step.
 *
 * <h2>Concurrency</h2>
 * Sinks run on engine threads and touch only the queue; everything else is owned by the request
 * thread.
 */
final class Generation {
    private static final System.Logger LOG = System.getLogger(Generation.class.getName());

    /** Something an engine reported for one choice; {@code atNs} is when it was reported. */
    sealed interface Event permits TokenEvent, FinishEvent, ErrorEvent {
        int choice();

        long atNs();
    }

    record TokenEvent(int choice, GeneratedToken token, long atNs) implements Event {
    }

    record FinishEvent(int choice, FinishReason reason, Usage usage, long atNs) implements Event {
    }

    record ErrorEvent(int choice, TandemException error, long atNs) implements Event {
    }

    private final String requestId;
    private final CompletionSpec spec;
    private final List<PreparedPrompt> prompts;
    private final List<RoutedRequest> selections;
    /** Every routing decision of the request; migrated streams add theirs. */
    private final RoutedRequests routes;
    private final Dispatcher dispatcher;
    private final String model;
    private final int blockSize;
    private final ChoiceState[] choices;
    private final RequestHandle[] handles;
    /** Per choice: the request as first issued (migration extends its prompt). */
    private final GenerateRequest[] requests;
    /** Per choice: token ids received so far, {@code receivedCount[c]} of them. */
    private final int[][] received;
    private final int[] receivedCount;
    /** Per choice: the worker streaming it now (a migration moves it). */
    private final String[] workerOf;
    private final int[] migrations;
    private final LinkedBlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private ApiException failure;

    private Generation(String requestId, CompletionSpec spec, List<PreparedPrompt> prompts,
                       List<RoutedRequest> selections, RoutedRequests routes, TextModel text, boolean keepText,
                       ToolCallFormat format, Dispatcher dispatcher, String model, int blockSize) {
        this.requestId = requestId;
        this.spec = spec;
        this.prompts = prompts;
        this.selections = selections;
        this.routes = routes;
        this.dispatcher = dispatcher;
        this.model = model;
        this.blockSize = blockSize;
        this.choices = new ChoiceState[spec.choiceCount()];
        this.handles = new RequestHandle[choices.length];
        this.requests = new GenerateRequest[choices.length];
        this.received = new int[choices.length][];
        this.receivedCount = new int[choices.length];
        this.workerOf = new String[choices.length];
        this.migrations = new int[choices.length];
        for (int c = 0; c < choices.length; c++) {
            ToolSet tools = spec.tools();
            ToolCallParser parser = tools != null && tools.callsAllowed()
                    ? new ToolCallParser(format, tools.parallel(), Generation::callId) : null;
            choices[c] = new ChoiceState(c, text, spec.stop(), spec.logprobs(), keepText, parser, format);
            received[c] = new int[16];
        }
    }

    /**
     * Submits every choice: prompt {@code p}'s {@code n} choices go to {@code plans.get(p)}'s
     * decode worker (so they share its prefix cache), each prefilled there or by the plan's
     * prefill worker ({@link Dispatcher#launch}). With a seed, choice {@code i} of a prompt uses
     * {@code seed + i}, so n=1 and the first of n=4 agree.
     *
     * @throws ApiException if an engine refuses a sequence (every submitted one is cancelled)
     */
    static Generation start(String requestId, CompletionSpec spec, Preprocessor.Prepared prepared,
                            List<RoutedRequest> selections, RoutedRequests routes, List<Dispatcher.Plan> plans,
                            TextModel text, boolean keepText, Dispatcher dispatcher, String model, int blockSize) {
        List<PreparedPrompt> prompts = prepared.prompts();
        int maxTokens = prepared.maxTokens();
        Generation g = new Generation(requestId, spec, prompts, selections, routes, text, keepText, prepared.format(),
                dispatcher, model, blockSize);
        int n = spec.n();
        try {
            for (int p = 0; p < prompts.size(); p++) {
                for (int i = 0; i < n; i++) {
                    int c = p * n + i;
                    SamplingParams sampling = spec.sampling().seed() == null ? spec.sampling()
                            : spec.sampling().withSeed(spec.sampling().seed() + i);
                    GenerateRequest request = new GenerateRequest(requestId + "-" + c, prompts.get(p).tokens(),
                            sampling, maxTokens, spec.stopTokenIdArray(), spec.ignoreEos(), spec.topLogprobs())
                            .withConstraint(prepared.constraint());
                    g.requests[c] = request;
                    g.workerOf[c] = plans.get(p).decode().worker().id();
                    g.handles[c] = dispatcher.launch(plans.get(p), request, g.sink(c));
                }
            }
        } catch (RequestException e) {
            g.cancelAll();
            throw ApiException.from(e);
        } catch (RuntimeException e) {
            g.cancelAll();
            throw ApiException.internal("[req=" + requestId + "] a worker refused the request: " + e.getMessage());
        }
        return g;
    }

    /** A new function call id: {@code call_} and 24 random letters and digits. */
    static String callId() {
        String alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        StringBuilder sb = new StringBuilder("call_");
        ThreadLocalRandom r = ThreadLocalRandom.current();
        for (int i = 0; i < 24; i++) {
            sb.append(alphabet.charAt(r.nextInt(alphabet.length())));
        }
        return sb.toString();
    }

    private TokenSink sink(int choice) {
        return new TokenSink() {
            @Override
            public void onToken(GeneratedToken token) {
                events.offer(new TokenEvent(choice, token, System.nanoTime()));
            }

            @Override
            public void onFinish(FinishReason reason, Usage usage) {
                events.offer(new FinishEvent(choice, reason, usage, System.nanoTime()));
            }

            @Override
            public void onError(TandemException error) {
                events.offer(new ErrorEvent(choice, error, System.nanoTime()));
            }
        };
    }

    /** The next event, waiting up to {@code timeoutNs}; null on timeout. */
    Event next(long timeoutNs) throws InterruptedException {
        return events.poll(timeoutNs, TimeUnit.NANOSECONDS);
    }

    /** The next event if one is queued, else null. */
    Event poll() {
        return events.poll();
    }

    /**
     * Applies an event to its choice and returns what the client should see (null if nothing).
     * A stop string cancels the choice's engine sequence; an engine error records the failure
     * and cancels every sequence.
     */
    ChoiceState.Delta apply(Event event) {
        ChoiceState choice = choices[event.choice()];
        return switch (event) {
            case TokenEvent t -> {
                record(event.choice(), t.token().tokenId());
                ChoiceState.Delta d = choice.onToken(t.token());
                if (d != null && choice.stoppedByString() && !choice.engineDone()) {
                    handles[choice.index()].cancel();
                }
                yield d;
            }
            case FinishEvent f -> {
                if (f.reason() == FinishReason.CANCELLED && !choice.outputDone() && failure == null) {
                    failure = ApiException.unavailable("[req=" + requestId + "] the request was cancelled by the"
                            + " server (shutting down)");
                }
                yield choice.onEngineFinish(f.reason(), f.usage());
            }
            case ErrorEvent e -> {
                if (!choice.outputDone() && failure == null && e.error() instanceof RequestException re
                        && re.kind() == RequestException.Kind.WORKER_LOST && migrate(event.choice(), re)) {
                    yield null;
                }
                choice.onEngineError();
                if (failure == null) {
                    failure = e.error() instanceof RequestException re ? ApiException.from(re)
                            : ApiException.internal("[req=" + requestId + "] the worker failed: " + e.error().getMessage());
                    cancelAll();
                }
                yield null;
            }
        };
    }

    private void record(int c, int tokenId) {
        if (receivedCount[c] == received[c].length) {
            received[c] = Arrays.copyOf(received[c], received[c].length * 2);
        }
        received[c][receivedCount[c]++] = tokenId;
    }

    /**
     * Moves choice {@code c}, whose worker was lost, to another decode worker ({@link
     * Dispatcher#migrate} decides and launches). False when it cannot move (the request then
     * fails as before).
     */
    private boolean migrate(int c, RequestException lost) {
        return switch (dispatcher.migrate(requests[c], received[c], receivedCount[c], migrations[c], workerOf[c], model,
                blockSize, spec.user(), sink(c), routes)) {
            case Dispatcher.Moved m -> {
                migrations[c]++;
                LOG.log(System.Logger.Level.WARNING, "[req={0}] choice {1}: worker {2} lost after {3} tokens ({4}); "
                        + "continuing on worker {5}", requestId, c, workerOf[c], receivedCount[c], lost.getMessage(),
                        m.decode().worker().id());
                handles[c] = m.handle();
                workerOf[c] = m.decode().worker().id();
                yield true;
            }
            case Dispatcher.AlreadyComplete done -> {
                events.offer(new FinishEvent(c, FinishReason.LENGTH, done.usage(), System.nanoTime()));
                yield true;
            }
            case Dispatcher.Stays stays -> {
                LOG.log(System.Logger.Level.WARNING, "[req={0}] worker {1} was lost and the stream cannot move: {2}",
                        requestId, workerOf[c], stays.why());
                yield false;
            }
        };
    }

    /** Fails the request (if it has not failed already) and cancels every sequence. */
    void fail(ApiException error) {
        if (failure == null) {
            failure = error;
        }
        cancelAll();
    }

    /** Cancels every engine sequence that has not finished (idempotent). */
    void cancelAll() {
        for (int c = 0; c < handles.length; c++) {
            if (handles[c] != null && !choices[c].engineDone()) {
                handles[c].cancel();
            }
        }
    }

    /** The first failure (engine error or unexpected cancel), or null. */
    ApiException failure() {
        return failure;
    }

    boolean allOutputDone() {
        for (ChoiceState c : choices) {
            if (!c.outputDone()) {
                return false;
            }
        }
        return true;
    }

    boolean allEngineDone() {
        for (ChoiceState c : choices) {
            if (!c.engineDone()) {
                return false;
            }
        }
        return true;
    }

    ChoiceState choice(int c) {
        return choices[c];
    }

    int choiceCount() {
        return choices.length;
    }

    String requestId() {
        return requestId;
    }

    /** Choices per prompt. */
    int n() {
        return spec.n();
    }

    /** The routing decision of prompt {@code p}. */
    RoutedRequest selection(int p) {
        return selections.get(p);
    }

    /**
     * The request's usage: each prompt counted once; completion tokens as the client received them
     * (up to and including the token that completed a stop string); cached and transferred tokens
     * from each prompt's first choice, as its worker reported them.
     */
    Usage usage() {
        int prompt = 0;
        int cached = 0;
        int transferred = 0;
        int completion = 0;
        for (int p = 0; p < prompts.size(); p++) {
            prompt += prompts.get(p).length();
            Usage u = choices[p * spec.n()].engineUsage();
            if (u != null) {
                cached += u.cachedPromptTokens();
                transferred += u.transferredPromptTokens();
            }
        }
        for (ChoiceState c : choices) {
            completion += c.completionTokens();
        }
        return new Usage(prompt, Math.min(cached, prompt), Math.min(transferred, prompt - Math.min(cached, prompt)),
                completion);
    }

    /** Prompt tokens the router expected cached, summed over prompts. */
    int predictedCachedTokens() {
        int sum = 0;
        for (RoutedRequest s : selections) {
            sum += s.predictedCachedTokens();
        }
        return sum;
    }
}
