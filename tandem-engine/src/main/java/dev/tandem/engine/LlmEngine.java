package dev.tandem.engine;

import dev.tandem.core.ConfigException;
import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvLayout;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.engine.grammar.Grammars;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.model.ModelRunner;
import dev.tandem.engine.scheduler.NanoClock;
import dev.tandem.engine.scheduler.Scheduler;
import dev.tandem.engine.scheduler.StepTiming;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;

/**
 * A serving engine: a {@link ModelRunner} (the transformer, or the mock's timing model) behind a
 * paged KV cache with prefix caching and a continuous-batching {@link Scheduler}.
 *
 * <h2>Design</h2>
 * The facade owns the runner, the KV pool and one scheduler. It either runs the scheduler on its
 * own thread ("tandem-engine-NAME": {@code doWork()} in a loop, parking when idle until a
 * command, the end of a simulated step or the next periodic load report), or, when built
 * {@link Builder#driven() driven}, leaves {@link #doWork()} to a caller such as a simulation on a
 * virtual clock. Everything the rest of Tandem needs goes through {@link Engine}; the extra
 * methods here are the seams for disaggregation (pin a finished prompt's blocks, reserve blocks
 * and start from imported K/V, read the pool) and for load reporting.
 *
 * <h2>Invariants</h2>
 * The pool, when present, has exactly {@code info().totalBlocks()} blocks of
 * {@code info().layout()}; the scheduler's invariants hold between steps
 * ({@link #checkInvariants()}, driven engines only).
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. Token sinks, KV event listeners and load listeners are called on the
 * engine thread (or the driving thread) and must not block. {@link #close()} cancels every
 * request, stops the thread and then closes the runner and the pool, which the engine owns.
 *
 * <h2>References</h2>
 * vLLM's {@code LLMEngine}/{@code EngineCore} split (a front object, a busy loop owning the
 * scheduler); NVIDIA Dynamo's engine interface (generate stream, KV events, load metrics).
 */
public final class LlmEngine implements Engine {
    private static final System.Logger LOG = System.getLogger(LlmEngine.class.getName());
    /** Longest wait for a snapshot or other call served by the engine thread, in seconds. */
    private static final long CALL_TIMEOUT_S = 120;

    private final EngineInfo info;
    private final ModelRunner runner;
    private final KvPool pool;
    private final NanoClock clock;
    private final Scheduler scheduler;
    private final Thread thread;
    private final AutoCloseable closeAlso;
    /** Set by close(); the loop exits when it sees it. */
    private volatile boolean closed;

    private LlmEngine(Builder b) {
        this.runner = b.runner;
        this.clock = b.clock;
        this.closeAlso = b.closeAlso;
        EngineConfig config = b.config;
        KvLayout layout = new KvLayout(config.blockSizeTokens(), b.layers, b.kvHeads, b.headDim, config.kvDtype());
        int totalBlocks;
        if (b.pool != null) {
            if (!b.pool.layout().equals(layout)) {
                throw new ConfigException("KV pool layout " + b.pool.layout().describe() + " differs from the engine's "
                        + layout.describe());
            }
            this.pool = b.pool;
            totalBlocks = pool.blockCount();
        } else {
            totalBlocks = config.resolveBlockCount(layout);
            this.pool = b.allocatePool ? KvPool.allocate(layout, totalBlocks) : null;
        }
        this.info = new EngineInfo(b.modelName, layout, totalBlocks, config.maxBatchTokens(), config.maxSequences(),
                runner.contextLength(), runner.vocabSize(), b.simulated);
        this.scheduler = new Scheduler(b.modelName, config, runner, pool, totalBlocks,
                b.promptVocabSize > 0 ? b.promptVocabSize : runner.vocabSize(), b.eosTokenIds, clock, b.stepTiming);
        if (b.grammars != null) {
            scheduler.setGrammars(b.grammars);
        }
        if (b.driven) {
            this.thread = null;
            scheduler.setOwnerThread(Thread.currentThread());
        } else {
            this.thread = Thread.ofPlatform().name("tandem-engine-" + b.modelName).daemon(true).unstarted(this::loop);
            scheduler.setWaker(() -> LockSupport.unpark(thread));
            thread.start();
        }
        LOG.log(System.Logger.Level.INFO, "engine {0}: {1} KV blocks ({2}, {3}), max batch {4} tokens / {5} sequences{6}",
                b.modelName, totalBlocks, layout.describe(), EngineConfig.formatBytes(layout.blockBytes() * (long) totalBlocks),
                config.maxBatchTokens(), config.maxSequences(), b.simulated ? ", simulated" : "");
    }

    /**
     * An engine over a GGUF model file on its own thread: the transformer with {@code threads}
     * kernel threads, the model's K/V shape, and its end-of-generation ids from the tokenizer
     * metadata.
     *
     * @throws dev.tandem.core.ModelFormatException if the file is not a usable model
     */
    public static LlmEngine open(Path modelPath, EngineConfig config, int threads) {
        return builderForModel(modelPath, config, threads).build();
    }

    /**
     * A builder set up for a GGUF model as in {@link #open} (the file is opened now and closed
     * with the engine), for callers that want to adjust it, e.g. {@link Builder#driven()}.
     */
    public static Builder builderForModel(Path modelPath, EngineConfig config, int threads) {
        LoadedModel model = LoadedModel.open(modelPath, modelPath.getFileName().toString().replaceFirst("\\.gguf$", ""));
        try {
            return model.engineBuilder(config, threads, null).closeAlso(model);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** Starts building an engine over {@code runner}, which the engine will own and close. */
    public static Builder builder(String modelName, ModelRunner runner) {
        return new Builder(modelName, runner);
    }

    @Override
    public EngineInfo info() {
        return info;
    }

    @Override
    public RequestHandle submit(GenerateRequest request, TokenSink sink) {
        return scheduler.submit(request, Objects.requireNonNull(sink, "sink"), null);
    }

    /**
     * Like {@link #submit(GenerateRequest, TokenSink)}, but when the request finishes (not when it
     * is cancelled) its prompt's blocks are pinned and the pin is passed to {@code onPinned}
     * before the sink's {@code onFinish}: a prefill worker's side of disaggregation.
     */
    public RequestHandle submit(GenerateRequest request, TokenSink sink, Consumer<PromptPin> onPinned) {
        return scheduler.submit(request, Objects.requireNonNull(sink, "sink"), Objects.requireNonNull(onPinned, "onPinned"));
    }

    /** Releases a pin made by {@link #submit(GenerateRequest, TokenSink, Consumer)}; false if unknown or expired. */
    public CompletableFuture<Boolean> releasePin(long pinId) {
        return scheduler.releasePin(pinId);
    }

    /**
     * Any thread: true if pin {@code pinId} holds blocks [{@code firstBlock},
     * {@code firstBlock + blockCount}) and lives at least {@code marginNanos} more (the read
     * guard of the pool's transfer servers).
     */
    public boolean pinCovers(long pinId, int firstBlock, int blockCount, long marginNanos) {
        return scheduler.pinCovers(pinId, firstBlock, blockCount, marginNanos);
    }

    /** Any thread: prompt pins held and not expired. */
    public int activePins() {
        return scheduler.activePins();
    }

    /**
     * Reserves blocks for {@code request}'s prompt, reusing this engine's own cached prefix; the
     * caller copies the other blocks' bytes into {@link #pool()} and then calls
     * {@link #startImported}. Fails with UNAVAILABLE if the blocks or a sequence slot are not free.
     */
    public CompletableFuture<ImportReservation> reserveImport(GenerateRequest request) {
        return scheduler.reserveImport(request);
    }

    /** Starts decoding a filled reservation from {@code firstToken} (not streamed again). */
    public RequestHandle startImported(ImportReservation reservation, int firstToken, TokenSink sink) {
        return scheduler.startImported(reservation, firstToken, Objects.requireNonNull(sink, "sink"));
    }

    public CompletableFuture<Boolean> cancelImport(ImportReservation reservation) {
        return scheduler.cancelImport(reservation);
    }

    /** The engine's clock: pin expiries ({@link PromptPin#expiresAtNanos()}) are on it. */
    public NanoClock clock() {
        return clock;
    }

    /**
     * The KV memory (null for a simulated engine). Blocks may be read from any thread while they
     * are pinned, and written while they are reserved for import.
     */
    public KvPool pool() {
        return pool;
    }

    @Override
    public LoadReport load() {
        return scheduler.load();
    }

    /** Registers a listener for load reports, sent on change and every load-report interval. */
    public AutoCloseable subscribeLoad(Consumer<LoadReport> listener) {
        return scheduler.subscribeLoad(listener);
    }

    @Override
    public AutoCloseable subscribe(KvEventListener listener) {
        return scheduler.subscribeKv(listener);
    }

    @Override
    public KvSnapshot kvSnapshot() {
        return await(scheduler.call(scheduler::snapshotNow), "KV snapshot");
    }

    /** Drops every cached prefix (a Cleared event); running sequences keep their blocks. */
    public void clearKvCache() {
        await(scheduler.call(() -> {
            scheduler.clearCacheNow();
            return Boolean.TRUE;
        }), "KV cache clear");
    }

    // ------------------------------------------------------------------ driven engines

    /** Driven engines: one turn of the scheduler (see {@link Scheduler#doWork()}). */
    public int doWork() {
        requireDriven();
        return scheduler.doWork();
    }

    /** Driven engines: when {@link #doWork()} next has something to do without new commands. */
    public long nextWakeNanos() {
        requireDriven();
        return scheduler.nextWakeNanos();
    }

    /** Driven engines: nothing running, waiting, reserved or in flight. */
    public boolean isIdle() {
        requireDriven();
        return scheduler.isIdle();
    }

    /** Driven engines: checks the scheduler's and block manager's invariants. */
    public void checkInvariants() {
        requireDriven();
        scheduler.checkInvariants();
    }

    /** Driven engines: the scheduler, for tests. */
    public Scheduler scheduler() {
        requireDriven();
        return scheduler;
    }

    private void requireDriven() {
        if (thread != null) {
            throw new IllegalStateException("engine " + info.modelName() + " runs its own thread; it is not driven");
        }
    }

    // ------------------------------------------------------------------ lifecycle

    private void loop() {
        try {
            while (!closed) {
                int work = scheduler.doWork();
                if (work == 0 && !closed) {
                    long wake = Math.min(scheduler.nextWakeNanos(), scheduler.nextReportNanos());
                    long waitNanos = wake - clock.nanoTime();
                    if (waitNanos > 0) {
                        LockSupport.parkNanos(this, waitNanos);
                    }
                }
            }
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.ERROR, "engine " + info.modelName() + ": scheduler loop failed; stopping", e);
        } finally {
            scheduler.shutdown();
            closeResources();
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (thread == null) {
            scheduler.shutdown();
            closeResources();
            return;
        }
        LockSupport.unpark(thread);
        if (Thread.currentThread() != thread) {
            try {
                if (!thread.join(java.time.Duration.ofSeconds(CALL_TIMEOUT_S))) {
                    LOG.log(System.Logger.Level.WARNING, "engine {0}: loop did not stop within {1} s", info.modelName(),
                            CALL_TIMEOUT_S);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void closeResources() {
        try {
            runner.close();
        } finally {
            if (pool != null) {
                pool.close();
            }
            if (closeAlso != null) {
                try {
                    closeAlso.close();
                } catch (Exception e) {
                    LOG.log(System.Logger.Level.WARNING, "engine " + info.modelName() + ": closing failed", e);
                }
            }
        }
    }

    private static <T> T await(CompletableFuture<T> f, String what) {
        try {
            return f.get(CALL_TIMEOUT_S, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RequestException(RequestException.Kind.CANCELLED, what + " interrupted");
        } catch (TimeoutException e) {
            throw new RequestException(RequestException.Kind.TIMEOUT, what + " not served within " + CALL_TIMEOUT_S + " s");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            throw new IllegalStateException(what + " failed", e.getCause());
        }
    }

    /** Assembles an engine; see the setters for defaults. */
    public static final class Builder {
        private final String modelName;
        private final ModelRunner runner;
        private EngineConfig config = EngineConfig.DEFAULT;
        private int layers = 1;
        private int kvHeads = 1;
        private int headDim = 1;
        private int[] eosTokenIds = new int[0];
        private int promptVocabSize;
        private NanoClock clock = NanoClock.system();
        private StepTiming stepTiming;
        private boolean simulated;
        private boolean driven;
        private boolean allocatePool = true;
        private KvPool pool;
        private AutoCloseable closeAlso;
        private Grammars grammars;

        private Builder(String modelName, ModelRunner runner) {
            this.modelName = Objects.requireNonNull(modelName, "modelName");
            this.runner = Objects.requireNonNull(runner, "runner");
        }

        /** Batching and KV settings; default {@link EngineConfig#DEFAULT}. */
        public Builder config(EngineConfig c) {
            this.config = Objects.requireNonNull(c, "config");
            return this;
        }

        /** The model's K/V shape per token; with the config's block size and dtype it makes the layout. */
        public Builder kvShape(int layerCount, int kvHeadCount, int headDimension) {
            this.layers = layerCount;
            this.kvHeads = kvHeadCount;
            this.headDim = headDimension;
            return this;
        }

        /** Ids that end generation (the model's end-of-generation tokens); default none. */
        /** Constrained decoding over the model's vocabulary (without it, constrained requests are refused). */
        public Builder grammars(Grammars g) {
            this.grammars = g;
            return this;
        }

        public Builder eosTokenIds(int... ids) {
            this.eosTokenIds = ids.clone();
            return this;
        }

        /** Prompt ids must lie in [0, n); default the runner's vocabulary size. */
        public Builder promptVocabSize(int n) {
            this.promptVocabSize = n;
            return this;
        }

        /** Time source; default {@link NanoClock#system()}. An engine with its own thread needs real time. */
        public Builder clock(NanoClock c) {
            this.clock = Objects.requireNonNull(c, "clock");
            return this;
        }

        /** Simulated step durations (the mock engine); default none: real steps. */
        public Builder stepTiming(StepTiming t) {
            this.stepTiming = t;
            return this;
        }

        /** Marks the engine as a simulation in {@link EngineInfo#simulated()}. */
        public Builder simulated(boolean s) {
            this.simulated = s;
            return this;
        }

        /** No own thread: the caller calls {@link LlmEngine#doWork()}. */
        public Builder driven() {
            this.driven = true;
            return this;
        }

        /** Allocate no KV memory (the runner never touches it): block accounting only. */
        public Builder withoutPool() {
            this.allocatePool = false;
            return this;
        }

        /** Use this pool (for example one mapped from /dev/shm); the engine takes ownership. */
        public Builder pool(KvPool p) {
            this.pool = p;
            return this;
        }

        /** Something the engine closes after the runner and the pool (e.g. the model file). */
        public Builder closeAlso(AutoCloseable c) {
            this.closeAlso = c;
            return this;
        }

        /** Builds and starts the engine; on failure closes the runner and {@link #closeAlso} before rethrowing. */
        public LlmEngine build() {
            try {
                return new LlmEngine(this);
            } catch (RuntimeException e) {
                try {
                    runner.close();
                    if (closeAlso != null) {
                        closeAlso.close();
                    }
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
        }
    }
}
