package dev.tandem.runtime.rpc;

import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvLayout;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test stand-in for an engine, to exercise the request plane: one engine thread, block
 * accounting (blocks held while a request runs, freed on finish or cancel), deterministic tokens
 * ({@link #expectedToken}) at a fixed interval, and failure modes chosen by request id:
 * {@code fail-*} fails after 2 tokens; a negative first prompt token is refused as INVALID.
 */
public final class FakeEngine implements Engine {
    public static final int BLOCK_SIZE = 4;
    public static final EngineInfo INFO = new EngineInfo("fake-model", new KvLayout(BLOCK_SIZE, 2, 2, 8, KvDtype.F32),
            1024, 256, 16, 4096, 1000, true);

    private final long tokenIntervalMs;
    private final ScheduledExecutorService thread =
            Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon().name("fake-engine").factory());
    private final Map<String, Running> running = new ConcurrentHashMap<>();
    private final AtomicInteger activeBlocks = new AtomicInteger();
    private final Set<String> cancelledIds = ConcurrentHashMap.newKeySet();
    private final List<KvEventListener> listeners = new CopyOnWriteArrayList<>();
    volatile KvSnapshot snapshot = new KvSnapshot(-1, new long[0]);

    private final class Running implements RequestHandle {
        final GenerateRequest request;
        final TokenSink sink;
        final int blocks;
        int generated; // engine thread
        boolean done;  // engine thread
        ScheduledFuture<?> task;

        Running(GenerateRequest request, TokenSink sink, int blocks) {
            this.request = request;
            this.sink = sink;
            this.blocks = blocks;
        }

        @Override
        public String requestId() {
            return request.requestId();
        }

        @Override
        public void cancel() {
            thread.execute(() -> {
                if (!done) {
                    cancelledIds.add(request.requestId());
                    finish(this, () -> sink.onFinish(FinishReason.CANCELLED, usage(this)));
                }
            });
        }
    }

    public FakeEngine(long tokenIntervalMs) {
        this.tokenIntervalMs = tokenIntervalMs;
    }

    /** The token a request gets at position {@code i}. */
    public static GeneratedToken expectedToken(GenerateRequest r, int i) {
        int sum = 0;
        for (int p = 0; p < r.promptLength(); p++) {
            sum += r.promptToken(p);
        }
        int id = Math.floorMod(sum + 7 * i, INFO.vocabSize());
        if (r.topLogprobs() < 0) {
            return GeneratedToken.of(id);
        }
        int n = r.topLogprobs();
        int[] top = new int[n];
        float[] lps = new float[n];
        for (int k = 0; k < n; k++) {
            top[k] = (id + k) % INFO.vocabSize();
            lps[k] = -0.25f * (i + 1) - k;
        }
        return new GeneratedToken(id, -0.25f * (i + 1), top, lps);
    }

    @Override
    public EngineInfo info() {
        return INFO;
    }

    @Override
    public RequestHandle submit(GenerateRequest request, TokenSink sink) {
        if (request.promptToken(0) < 0) {
            throw new RequestException(RequestException.Kind.INVALID,
                    "token id " + request.promptToken(0) + " is outside the vocabulary", "prompt", null);
        }
        int blocks = (request.promptLength() + request.maxTokens() + BLOCK_SIZE - 1) / BLOCK_SIZE;
        activeBlocks.addAndGet(blocks);
        Running r = new Running(request, sink, blocks);
        running.put(request.requestId(), r);
        thread.execute(() -> r.task = thread.scheduleAtFixedRate(() -> step(r), tokenIntervalMs,
                Math.max(1, tokenIntervalMs), TimeUnit.MILLISECONDS));
        return r;
    }

    private void step(Running r) {
        if (r.done) {
            return;
        }
        GeneratedToken t = expectedToken(r.request, r.generated);
        r.generated++;
        r.sink.onToken(t);
        if (r.request.requestId().startsWith("fail-") && r.generated == 2) {
            finish(r, () -> r.sink.onError(new RequestException(RequestException.Kind.INTERNAL,
                    "simulated engine failure in " + r.request.requestId())));
        } else if (r.request.isStopToken(t.tokenId())) {
            finish(r, () -> r.sink.onFinish(FinishReason.STOP, usage(r)));
        } else if (r.generated == r.request.maxTokens()) {
            finish(r, () -> r.sink.onFinish(FinishReason.LENGTH, usage(r)));
        }
    }

    private static Usage usage(Running r) {
        return new Usage(r.request.promptLength(), Math.min(2, r.request.promptLength()), 0, r.generated);
    }

    private void finish(Running r, Runnable terminal) {
        r.done = true;
        if (r.task != null) {
            r.task.cancel(false);
        }
        running.remove(r.request.requestId());
        activeBlocks.addAndGet(-r.blocks);
        terminal.run();
    }

    /** Sends a KV event to subscribers, as the engine thread would. */
    public void emit(KvEvent event) {
        thread.execute(() -> listeners.forEach(l -> l.onKvEvent(event)));
    }

    @Override
    public LoadReport load() {
        return new LoadReport(INFO.totalBlocks(), activeBlocks.get(), 3, running.size(), 0, 17, 1_000, 400);
    }

    @Override
    public AutoCloseable subscribe(KvEventListener listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    @Override
    public KvSnapshot kvSnapshot() {
        return snapshot;
    }

    public int activeBlocks() {
        return activeBlocks.get();
    }

    public int runningRequests() {
        return running.size();
    }

    public Set<String> cancelledIds() {
        return Set.copyOf(cancelledIds);
    }

    @Override
    public void close() {
        for (Running r : running.values()) {
            r.cancel();
        }
        thread.shutdown();
    }
}
