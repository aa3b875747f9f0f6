package dev.tandem.engine.scheduler;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.ImportReservation;
import dev.tandem.engine.PromptPin;
import dev.tandem.engine.grammar.GrammarState;
import dev.tandem.engine.grammar.Grammars;
import dev.tandem.engine.kvcache.BlockManager;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.model.ModelRunner;
import dev.tandem.engine.sampling.Sampler;
import dev.tandem.engine.sampling.SequenceSampling;
import java.util.ArrayList;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The continuous-batching loop of one engine: admits requests, plans each forward step, runs it,
 * samples, streams tokens, and keeps the KV blocks and events in order.
 *
 * <h2>Design</h2>
 * A single-writer agent: one thread calls {@link #doWork()} in a loop (the engine's own thread,
 * or a simulation driver on a virtual clock); every other thread talks to it through a command
 * queue. Each call drains commands (submit, cancel, calls such as snapshots), releases expired
 * pins, and runs at most one step:
 * <ol>
 *   <li>{@link StepPlanner} fills the batch: decodes first, then chunks of running prompts, then
 *       admissions with their cached prefixes, preempting the latest arrivals when blocks run
 *       out (see its notes);</li>
 *   <li>one {@code ModelRunner.forward} over the whole batch; then, per sequence, register its
 *       newly full blocks ({@code BlockManager.commit}), and if its run reached its last token,
 *       sample with its own parameters, stream the token, and finish it on an end-of-generation
 *       id, a stop id, {@code maxTokens} or the context length.</li>
 * </ol>
 * A finished or cancelled sequence releases its blocks at once, so they are free for the next
 * plan. With a {@link StepTiming} (the mock engine) the step's tokens are released only when
 * the clock reaches the step's end, so a simulation on a virtual clock advances by step times
 * without sleeping, and a real-time one sleeps between steps instead of spinning.
 *
 * <h2>Invariants</h2> (checked by {@link #checkInvariants()})
 * <ul>
 *   <li>every block's reference count equals its references from running and reserved
 *       sequences' tables plus pins; waiting sequences hold no blocks;</li>
 *   <li>running is ordered by arrival; running + reserved &lt;= maxSequences;
 *       every running sequence has 1 &lt;= pending and blocks for all computed positions;</li>
 *   <li>the block manager's own invariants hold.</li>
 * </ul>
 *
 * <h2>Concurrency</h2>
 * {@link #submit}, {@link #cancel}, {@link #call}, {@link #load()} and the listener lists are safe
 * for concurrent use; everything else belongs to the thread that calls {@link #doWork()}. Token
 * sinks, KV event and load listeners are called on that thread and must not block; an exception
 * from a sink cancels only that request.
 *
 * <h2>Size</h2>
 * Over 500 lines on purpose: the loop's state (command queue, running and reserved sequences,
 * pins, load) is touched by every step, and cutting it further would hand that state around.
 * What stands alone lives apart: request checks in {@link RequestLimits}, the plan in
 * {@link StepPlanner}, block accounting in {@code BlockManager}, {@link PinTable} (a prefill engine's prompts held
 * for a peer) and {@link ImportTable} (a decode engine's prompts reserved for a peer's K/V).
 *
 * <h2>References</h2>
 * vLLM v1 engine core (plan, run, sample, stream in one loop); NVIDIA Dynamo mocker (the
 * simulated-step design).
 */
public final class Scheduler {
    private static final System.Logger LOG = System.getLogger(Scheduler.class.getName());
    /** Most commands handled per {@link #doWork()} call, so one call stays bounded. */
    private static final int MAX_COMMANDS_PER_CALL = 4096;

    private final String name;
    private final EngineConfig config;
    private final ModelRunner runner;
    private final KvPool pool;
    private final BlockManager blocks;
    private final int blockSize;
    private final int vocabSize;
    private final RequestLimits limits;
    private final int contextLength;
    private final int[] eosTokenIds;
    private final NanoClock clock;
    private final StepTiming timing;
    private final Sampler sampler;
    /** Constrained decoding over the model's vocabulary; null: constrained requests are refused. */
    private volatile Grammars grammars;
    private final float[] logits; // [maxSequences][vocab]

    // ---- shared with other threads ----
    private final ConcurrentLinkedQueue<Command> commands = new ConcurrentLinkedQueue<>();
    /** Admitted, unfinished requests; bounds the queue (submit fails with OVERLOADED beyond it). */
    private final AtomicInteger unfinished = new AtomicInteger();
    /** Arrival numbers: submit order, the scheduling priority. */
    private final AtomicLong arrivals = new AtomicLong();
    private final Listeners listeners;
    /** Latest load report, published by the engine thread for cheap reads anywhere. */
    private volatile LoadReport load;
    /** Set once by shutdown(); submit checks it to refuse new work. */
    private volatile boolean shutDown;
    /** Wakes the engine thread when a command arrives (unpark); a no-op for driven engines. */
    private volatile Runnable waker = () -> { };
    /** The thread that runs doWork: calls made on it run directly instead of through the queue. */
    private volatile Thread ownerThread;

    // ---- engine thread only ----
    private final StepPlanner planner;
    private boolean inFlight;
    private long stepDueNanos;
    private boolean lastPlanRan;
    private final PinTable pins;
    private final ImportTable imports;
    private long nextReportNanos;
    private long stepsTotal;

    private sealed interface Command permits Submit, Cancel, Call {
    }

    private record Submit(Sequence seq) implements Command {
    }

    private record Cancel(Sequence seq) implements Command {
    }

    private record Call(Runnable action) implements Command {
    }

    /**
     * @param name            engine name for logs
     * @param config          batching limits and block size
     * @param runner          the model (owned by the caller)
     * @param pool            the KV memory the runner writes, or null for a simulated runner
     * @param totalBlocks     blocks in the pool
     * @param promptVocabSize prompt ids must be in [0, promptVocabSize)
     * @param eosTokenIds     ids that end generation unless a request ignores them
     * @param clock           time source
     * @param timing          simulated step durations, or null for real steps
     */
    public Scheduler(String name, EngineConfig config, ModelRunner runner, KvPool pool, int totalBlocks,
                     int promptVocabSize, int[] eosTokenIds, NanoClock clock, StepTiming timing) {
        this.name = name;
        this.config = config;
        this.runner = runner;
        this.pool = pool;
        this.blockSize = config.blockSizeTokens();
        this.listeners = new Listeners(name);
        this.blocks = new BlockManager(totalBlocks, blockSize, listeners::publish);
        this.pins = new PinTable(blocks);
        this.imports = new ImportTable(name, blocks, blockSize);
        this.vocabSize = runner.vocabSize();
        this.contextLength = runner.contextLength();
        this.limits = new RequestLimits(promptVocabSize, contextLength, blockSize, blocks.totalBlocks());
        this.eosTokenIds = eosTokenIds.clone();
        this.clock = clock;
        this.timing = timing;
        this.sampler = new Sampler(vocabSize);
        this.logits = new float[Math.multiplyExact(config.maxSequences(), vocabSize)];
        this.planner = new StepPlanner(name, blocks, blockSize, config.maxBatchTokens(), config.maxSequences());
        this.nextReportNanos = clock.nanoTime();
        this.load = computeLoad();
    }

    // ------------------------------------------------------------------ any thread

    /**
     * Declares the thread that will call {@link #doWork()} before it first does (a driven
     * engine's constructing thread), so that its calls run directly instead of waiting for itself.
     */
    public void setOwnerThread(Thread thread) {
        this.ownerThread = thread;
    }

    /**
     * Enables constrained output ({@link GenerateRequest#constraint()}) over this vocabulary;
     * without it a constrained request is refused. Called before the first submit.
     */
    public void setGrammars(Grammars grammars) {
        this.grammars = grammars;
    }

    /** Sets the action that wakes the engine thread when a command arrives. */
    public void setWaker(Runnable waker) {
        this.waker = waker;
    }

    /**
     * Validates and queues a request (see {@code Engine.submit}); never blocks on the model.
     *
     * @param onPinned if not null, the prompt's blocks are pinned when the request finishes (not
     *                 when cancelled) and the pin is passed here, on the engine thread, before
     *                 the sink's {@code onFinish}
     */
    public RequestHandle submit(GenerateRequest request, TokenSink sink, Consumer<PromptPin> onPinned) {
        Sequence s = newSequence(request, sink, onPinned);
        enqueueOrFail(new Submit(s));
        return s;
    }

    void cancel(Sequence s) {
        if (s.cancelRequested.compareAndSet(false, true)) {
            commands.add(new Cancel(s));
            waker.run();
        }
    }

    /**
     * Runs {@code action} on the engine thread (directly if called on it) and completes the
     * future with its result.
     */
    public <T> CompletableFuture<T> call(Supplier<T> action) {
        CompletableFuture<T> f = new CompletableFuture<>();
        Runnable r = () -> {
            try {
                f.complete(action.get());
            } catch (RuntimeException e) {
                f.completeExceptionally(e);
            }
        };
        if (Thread.currentThread() == ownerThread) {
            r.run();
            report(clock.nanoTime());
        } else {
            enqueueOrFail(new Call(r));
        }
        return f;
    }

    public LoadReport load() {
        return load;
    }

    public AutoCloseable subscribeKv(KvEventListener listener) {
        return listeners.subscribeKv(listener);
    }

    public AutoCloseable subscribeLoad(Consumer<LoadReport> listener) {
        return listeners.subscribeLoad(listener);
    }

    public boolean isShutDown() {
        return shutDown;
    }

    public int totalBlocks() {
        return blocks.totalBlocks();
    }

    // ------------------------------------------------------------------ disaggregation seam

    /** Reserves blocks for a prompt whose K/V a peer will provide; see {@link ImportReservation}. */
    public CompletableFuture<ImportReservation> reserveImport(GenerateRequest request) {
        Sequence s = newSequence(request, null, null);
        return call(() -> reserve(s));
    }

    /**
     * Starts decoding a reserved sequence whose prompt blocks the caller has filled, continuing
     * from {@code firstToken} (sampled by the peer; counted in usage, not streamed again).
     */
    public RequestHandle startImported(ImportReservation reservation, int firstToken, TokenSink sink) {
        CompletableFuture<Sequence> started = call(() -> startReserved(reservation.reservationId(), firstToken, sink));
        return new RequestHandle() {
            @Override
            public String requestId() {
                return reservation.requestId();
            }

            @Override
            public void cancel() {
                started.thenAccept(s -> {
                    if (s != null) {
                        s.cancel();
                    }
                });
            }
        };
    }

    public CompletableFuture<Boolean> cancelImport(ImportReservation reservation) {
        return call(() -> {
            Sequence s = imports.take(reservation.reservationId());
            if (s == null) {
                return false;
            }
            finishQuietly(s);
            return true;
        });
    }

    public CompletableFuture<Boolean> releasePin(long pinId) {
        return call(() -> pins.release(pinId));
    }

    /**
     * Any thread: true if pin {@code pinId} holds blocks [{@code firstBlock},
     * {@code firstBlock + blockCount}) and lives at least {@code marginNanos} more on this
     * engine's clock (a read that starts now finishes before the blocks may be reused).
     */
    public boolean pinCovers(long pinId, int firstBlock, int blockCount, long marginNanos) {
        return pins.covers(pinId, firstBlock, blockCount, clock.nanoTime() + marginNanos);
    }

    /** Any thread: prompt pins held and not expired. */
    public int activePins() {
        return pins.liveCount(clock.nanoTime());
    }

    // ------------------------------------------------------------------ engine thread

    /**
     * One turn of the loop: commands, expiries, and at most one step.
     *
     * @return how much was done (0 means idle until a command, a step end or an expiry; see
     *         {@link #nextWakeNanos()})
     */
    public int doWork() {
        ownerThread = Thread.currentThread();
        int work = drainCommands();
        long now = clock.nanoTime();
        work += expire(now);
        if (inFlight) {
            if (now - stepDueNanos < 0) {
                report(now);
                return work;
            }
            inFlight = false;
            completeStep();
            work++;
        }
        lastPlanRan = !shutDown && planner.plan(imports.size());
        if (lastPlanRan) {
            runStep(now);
            work++;
        }
        report(clock.nanoTime());
        return work;
    }

    /**
     * When {@link #doWork()} next has something to do without a new command: now while steps
     * keep running, the end of the step in flight, the next pin expiry, or {@link Long#MAX_VALUE}.
     */
    public long nextWakeNanos() {
        long now = clock.nanoTime();
        if (!commands.isEmpty()) {
            return now;
        }
        boolean mayRun = lastPlanRan && planner.hasWork();
        long wake = inFlight ? stepDueNanos : (mayRun ? now : Long.MAX_VALUE);
        return Math.min(wake, Math.min(pins.nextExpiryNanos(), imports.nextExpiryNanos()));
    }

    /** When the next periodic load report is due. */
    public long nextReportNanos() {
        return nextReportNanos;
    }

    /** True when nothing is running, waiting, in flight or queued. */
    public boolean isIdle() {
        return !planner.hasWork() && !inFlight && commands.isEmpty() && imports.isEmpty();
    }

    /** Engine thread: the prefix cache's hashes with the id of the last event they reflect. */
    public KvSnapshot snapshotNow() {
        return blocks.snapshot();
    }

    /** Engine thread: drops every registered block (a Cleared event). */
    public void clearCacheNow() {
        blocks.clear();
    }

    /** Engine thread: the block manager, for tests and invariant checks. */
    public BlockManager blockManager() {
        return blocks;
    }

    public long preemptions() {
        return planner.preemptionsTotal();
    }

    public long steps() {
        return stepsTotal;
    }

    /**
     * Engine thread (or after it stopped): refuses new work, cancels every request, releases
     * every pin and reservation. Idempotent.
     */
    public void shutdown() {
        shutDown = true;
        ownerThread = Thread.currentThread();
        Command c;
        while ((c = commands.poll()) != null) {
            switch (c) {
                case Submit s -> cancelNow(s.seq());
                case Cancel k -> cancelNow(k.seq());
                case Call call -> call.action().run();
            }
        }
        inFlight = false;
        planner.clearScheduled();
        for (Sequence s : new ArrayList<>(planner.running())) {
            cancelNow(s);
        }
        for (Sequence s : planner.waitingSnapshot()) {
            cancelNow(s);
        }
        for (Sequence s : imports.all()) {
            finishQuietly(s);
        }
        pins.releaseAll();
        report(clock.nanoTime());
    }

    // ------------------------------------------------------------------ admission

    private Sequence newSequence(GenerateRequest request, TokenSink sink, Consumer<PromptPin> onPinned) {
        if (shutDown) {
            throw new RequestException(RequestException.Kind.UNAVAILABLE, "engine " + name + " is closed");
        }
        limits.check(request);
        Long seed = request.sampling().seed();
        SequenceSampling sampling = new SequenceSampling(request.sampling(),
                seed != null ? seed : ThreadLocalRandom.current().nextLong(), vocabSize, request.topLogprobs());
        for (int i = 0; i < request.promptLength(); i++) {
            sampling.observe(request.promptToken(i));
        }
        GrammarState grammar = null;
        if (request.constraint() != null) {
            Grammars g = grammars;
            if (g == null) {
                throw new RequestException(RequestException.Kind.INVALID, "engine " + name
                        + " has no tokenizer to constrain the output with", "response_format", null);
            }
            grammar = g.start(request.constraint(), request.promptTokens());
        }
        Sequence s = new Sequence(this, arrivals.getAndIncrement(), request, sink, onPinned, blockSize, sampling);
        s.grammar = grammar;
        return s;
    }

    private void enqueueOrFail(Command c) {
        boolean counts = c instanceof Submit;
        if (counts && unfinished.incrementAndGet() > config.maxQueuedRequests()) {
            unfinished.decrementAndGet();
            throw new RequestException(RequestException.Kind.OVERLOADED, "engine " + name + " has "
                    + config.maxQueuedRequests() + " requests queued or running; try again later");
        }
        commands.add(c);
        // shutdown() drains the queue after setting the flag: exactly one of us takes the command
        if (shutDown && commands.remove(c)) {
            if (counts) {
                unfinished.decrementAndGet();
            }
            throw new RequestException(RequestException.Kind.UNAVAILABLE, "engine " + name + " is closed");
        }
        waker.run();
    }

    private int drainCommands() {
        int n = 0;
        Command c;
        while (n < MAX_COMMANDS_PER_CALL && (c = commands.poll()) != null) {
            n++;
            switch (c) {
                case Submit s -> planner.enqueue(s.seq());
                case Cancel k -> cancelNow(k.seq());
                case Call call -> call.action().run();
            }
        }
        return n;
    }

    // ------------------------------------------------------------------ running a step

    private void runStep(long now) {
        stepsTotal++;
        int active = blocks.activeBlocks();
        try {
            runner.forward(planner.batch(), pool, logits);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "engine " + name + ": forward step of " + planner.scheduledCount()
                    + " sequences failed; failing them", e);
            failScheduled(e);
            return;
        }
        if (timing == null) {
            completeStep();
        } else {
            long d = Math.max(1, timing.stepNanos(planner.stepPrefillTokens(), planner.stepDecodeSequences(), active, blocks.totalBlocks()));
            inFlight = true;
            stepDueNanos = now + d;
        }
    }

    private void completeStep() {
        for (int k = 0; k < planner.scheduledCount(); k++) {
            Sequence s = planner.scheduled(k);
            if (s.state != Sequence.State.RUNNING) {
                continue; // cancelled while its step was in flight
            }
            s.computed += s.stepTokens;
            blocks.commit(s.table, s.computed);
            if (s.computed == s.tokenCount) {
                sampleAndEmit(s, k);
            }
        }
        planner.clearScheduled();
    }

    private void sampleAndEmit(Sequence s, int row) {
        long[] allowed = null;
        if (s.grammar != null) {
            // a one-token request (a prefill peer's half) samples freely within the grammar: its
            // budget is the decode worker's, which steers the end
            int remaining = s.request.maxTokens() == 1 ? Integer.MAX_VALUE
                    : Math.min(s.request.maxTokens() - s.generated, contextLength - s.tokenCount);
            allowed = s.grammar.allowed(remaining);
        }
        GeneratedToken t = sampler.sample(logits, row * vocabSize, s.sampling, allowed);
        int id = t.tokenId();
        if (s.grammar != null) {
            s.grammar.accept(id);
        }
        s.append(id);
        try {
            s.sink.onToken(t);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "[req=" + s.requestId() + "] token sink failed; cancelling the request", e);
            finishQuietly(s);
            return;
        }
        FinishReason reason = finishReason(s, id);
        if (reason != null) {
            finish(s, reason);
        }
    }

    private FinishReason finishReason(Sequence s, int id) {
        if (!s.request.ignoreEos()) {
            for (int eos : eosTokenIds) {
                if (eos == id) {
                    return FinishReason.STOP;
                }
            }
        }
        if (s.request.isStopToken(id)) {
            return FinishReason.STOP;
        }
        if (s.grammar != null && s.grammar.complete()) {
            return FinishReason.STOP; // the constrained value is written and nothing may follow
        }
        if (s.generated >= s.request.maxTokens() || s.tokenCount >= contextLength) {
            return FinishReason.LENGTH;
        }
        return null;
    }

    private void failScheduled(RuntimeException cause) {
        for (int k = 0; k < planner.scheduledCount(); k++) {
            Sequence s = planner.scheduled(k);
            if (s.state == Sequence.State.RUNNING) {
                finishQuietly(s);
                try {
                    s.sink.onError(new RequestException(RequestException.Kind.INTERNAL,
                            "the model failed: " + cause.getMessage(), null, cause));
                } catch (RuntimeException e) {
                    LOG.log(System.Logger.Level.WARNING, "[req=" + s.requestId() + "] token sink failed in onError", e);
                }
            }
        }
        planner.clearScheduled();
    }

    // ------------------------------------------------------------------ finishing

    private void finish(Sequence s, FinishReason reason) {
        PromptPin pin = s.onPinned != null && reason != FinishReason.CANCELLED ? pinPrompt(s) : null;
        finishQuietly(s);
        if (pin != null) {
            try {
                s.onPinned.accept(pin);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "[req=" + s.requestId() + "] pin listener failed; releasing the pin", e);
                pins.release(pin.pinId());
            }
        }
        try {
            s.sink.onFinish(reason, s.usage());
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "[req=" + s.requestId() + "] token sink failed in onFinish", e);
        }
    }

    /** Cancels a sequence in any state and tells its sink, unless it already finished. */
    private void cancelNow(Sequence s) {
        if (s.state == Sequence.State.FINISHED) {
            return;
        }
        finishQuietly(s);
        if (s.sink != null) {
            try {
                s.sink.onFinish(FinishReason.CANCELLED, s.usage());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "[req=" + s.requestId() + "] token sink failed in onFinish", e);
            }
        }
    }

    /** Removes a sequence from wherever it is and releases its blocks; tells nobody. */
    private void finishQuietly(Sequence s) {
        switch (s.state) {
            case WAITING, RUNNING -> planner.remove(s);
            case RESERVED -> imports.remove(s);
            case NEW, FINISHED -> { }
        }
        if (s.state != Sequence.State.FINISHED) {
            unfinished.decrementAndGet();
        }
        blocks.release(s.table, s.tokens, s.computed); // its partly computed last block stays as a tail
        s.state = Sequence.State.FINISHED;
    }

    // ------------------------------------------------------------------ pins and imports

    private PromptPin pinPrompt(Sequence s) {
        int n = Math.min(s.table.blocksFor(s.promptLength), s.table.blockCount());
        int fullPromptBlocks = Math.min(s.promptLength / blockSize, s.table.hashedCount());
        int[] ids = new int[n];
        long[] hashes = new long[n]; // the prompt's blocks were hashed once, for the prefix cache
        for (int i = 0; i < n; i++) {
            ids[i] = s.table.block(i);
            hashes[i] = i < fullPromptBlocks ? s.table.sequenceHash(i) : 0;
        }
        long expires = clock.nanoTime() + config.pinTtlMs() * 1_000_000L;
        return new PromptPin(pins.pin(ids, expires), s.requestId(), s.promptLength, ids, hashes, expires);
    }

    private ImportReservation reserve(Sequence s) {
        if (planner.runningCount() + imports.size() >= config.maxSequences()) {
            throw new RequestException(RequestException.Kind.UNAVAILABLE, "engine " + name + " runs "
                    + config.maxSequences() + " sequences already");
        }
        ImportReservation r = imports.reserve(s, clock.nanoTime() + config.pinTtlMs() * 1_000_000L);
        unfinished.incrementAndGet();
        return r;
    }

    private Sequence startReserved(long reservationId, int firstToken, TokenSink sink) {
        Sequence s = imports.take(reservationId);
        if (s == null) {
            sink.onError(new RequestException(RequestException.Kind.INVALID,
                    "import reservation " + reservationId + " is unknown or expired"));
            return null;
        }
        if (firstToken < 0 || firstToken >= vocabSize) {
            finishQuietly(s);
            sink.onError(new RequestException(RequestException.Kind.INVALID, "first token " + firstToken
                    + " is outside the vocabulary of " + vocabSize + " tokens"));
            return null;
        }
        s.sink = sink;
        s.computed = s.promptLength;
        s.transferredPromptTokens = s.promptLength - s.cachedPromptTokens;
        blocks.commit(s.table, s.computed);
        s.admittedOnce = true;
        planner.countPrompt(s);
        if (!s.sampling.params().greedy()) {
            s.sampling.skipDraw(); // the peer's draw for the first token
        }
        if (s.grammar != null) {
            s.grammar.accept(firstToken); // the peer sampled it under the same constraint
        }
        s.append(firstToken);
        planner.insertRunning(s);
        FinishReason reason = finishReason(s, firstToken);
        if (reason != null) {
            finish(s, reason);
        }
        return s;
    }

    private int expire(long now) {
        int n = pins.expire(now, name);
        for (Sequence s : imports.expired(now)) {
            LOG.log(System.Logger.Level.INFO, "[req={0}] import reservation expired unused", s.requestId());
            finishQuietly(s);
            n++;
        }
        return n;
    }

    // ------------------------------------------------------------------ events and load

    private void report(long now) {
        LoadReport r = computeLoad();
        boolean periodic = now - nextReportNanos >= 0;
        if (!periodic && r.equals(load)) {
            return;
        }
        load = r;
        nextReportNanos = now + config.loadReportIntervalMs() * 1_000_000L;
        listeners.publish(r);
    }

    private LoadReport computeLoad() {
        return new LoadReport(blocks.totalBlocks(), blocks.activeBlocks(), blocks.cachedBlocks(),
                planner.runningCount(), planner.waitingCount(), planner.queuedPrefillTokens(),
                planner.promptTokensTotal(), planner.cachedPromptTokensTotal());
    }

    // ------------------------------------------------------------------ invariants

    /** Engine thread: checks the invariants in the class notes; throws IllegalStateException. */
    public void checkInvariants() {
        blocks.checkInvariants();
        int[] refs = new int[blocks.totalBlocks()];
        planner.checkInvariants(refs);
        imports.countReferences(refs);
        pins.countReferences(refs);
        for (int b = 0; b < refs.length; b++) {
            check(refs[b] == blocks.refCount(b), "block %d has refCount %d but %d references", b, blocks.refCount(b), refs[b]);
        }
        int running = planner.runningCount();
        check(running + imports.size() <= config.maxSequences(), "%d running + %d reserved > max %d",
                running, imports.size(), config.maxSequences());
        if (commands.isEmpty()) {
            int live = running + planner.waitingCount() + imports.size();
            check(live == unfinished.get(), "%d live sequences but unfinished counter %d", live, unfinished.get());
        }
    }

    static void countRefs(Sequence s, int[] refs) {
        for (int i = 0; i < s.table.blockCount(); i++) {
            refs[s.table.block(i)]++;
        }
    }

    static void check(boolean ok, String format, Object... args) {
        if (!ok) {
            throw new IllegalStateException("scheduler invariant broken: " + String.format(format, args));
        }
    }
}
