package dev.tandem.frontend;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvLayout;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A scripted engine for frontend tests (the byte-level tokenizer's ids): one scheduler thread,
 * real block accounting (a sequence holds ceil(length / blockSize) blocks until it ends), a
 * prefix cache of full-block hashes, and deterministic output: greedy requests produce
 * {@link #GREEDY_TEXT} again and again, sampled ones a seeded mix of ASCII and multi-byte
 * characters. {@link #hold()} stops the clock until {@link #release()}.
 */
final class FakeEngine implements Engine {
    static final String GREEDY_TEXT = "Once upon a time, a tiny cat found a ball. ";
    private static final String[] SAMPLED_PIECES = {"a", "b", "c", " ", "é", "ü", "€", "中", "😀", "\n", "xyz"};

    private final EngineInfo info;
    private final int blockSize;
    private final LinkedBlockingQueue<Runnable> commands = new LinkedBlockingQueue<>();
    private final List<Seq> running = new ArrayList<>();
    private final Set<Long> cachedBlocks = new HashSet<>();
    private final Thread thread;
    /** Blocks not held by a running sequence; read by tests from any thread. */
    private final AtomicInteger freeBlocks;
    /** Sequences submitted and not yet finished; read by tests. */
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicInteger submitted = new AtomicInteger();
    private volatile boolean held;
    /** When set, each step needs a permit (tests release them one by one); null runs freely. */
    private volatile java.util.concurrent.Semaphore stepPermits;
    /** How each sequence ended, in order; read by tests. */
    final java.util.concurrent.ConcurrentLinkedQueue<FinishReason> finishes =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    /** Tokens each finished sequence generated, in order; read by tests. */
    final java.util.concurrent.ConcurrentLinkedQueue<Integer> generatedCounts =
            new java.util.concurrent.ConcurrentLinkedQueue<>();
    private volatile boolean closed;
    private long promptTokens;
    private long cachedPromptTokens;

    FakeEngine(String modelName, int totalBlocks, int blockSize, int contextLength) {
        this.blockSize = blockSize;
        this.info = new EngineInfo(modelName, new KvLayout(blockSize, 1, 1, 8, KvDtype.F32), totalBlocks, 512, 64,
                contextLength, 258, true);
        this.freeBlocks = new AtomicInteger(totalBlocks);
        this.thread = Thread.ofPlatform().daemon().name("fake-engine-" + modelName).start(this::loop);
    }

    @Override
    public EngineInfo info() {
        return info;
    }

    @Override
    public RequestHandle submit(GenerateRequest request, TokenSink sink) {
        if (closed) {
            throw new RequestException(RequestException.Kind.UNAVAILABLE, "engine closed");
        }
        if (request.promptLength() + request.maxTokens() > info.contextLength()) {
            throw new RequestException(RequestException.Kind.INVALID, "prompt + max_tokens beyond context",
                    "max_tokens", null);
        }
        Seq seq = new Seq(request, sink);
        active.incrementAndGet();
        submitted.incrementAndGet();
        commands.add(() -> admit(seq));
        return new RequestHandle() {
            @Override
            public String requestId() {
                return request.requestId();
            }

            @Override
            public void cancel() {
                commands.add(() -> finish(seq, FinishReason.CANCELLED));
            }
        };
    }

    /** From now on each step waits for {@link #allowSteps}. */
    void pace() {
        stepPermits = new java.util.concurrent.Semaphore(0);
    }

    void allowSteps(int steps) {
        stepPermits.release(steps);
    }

    void hold() {
        held = true;
    }

    void release() {
        held = false;
        commands.add(() -> { });
    }

    int freeBlocks() {
        return freeBlocks.get();
    }

    int activeSequences() {
        return active.get();
    }

    int submittedSequences() {
        return submitted.get();
    }

    @Override
    public LoadReport load() {
        int total = info.totalBlocks();
        return new LoadReport(total, total - freeBlocks.get(), 0, active.get(), 0, 0, 0, 0);
    }

    @Override
    public AutoCloseable subscribe(KvEventListener listener) {
        return () -> { };
    }

    @Override
    public KvSnapshot kvSnapshot() {
        return new KvSnapshot(-1, new long[0]);
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void loop() {
        try {
            while (!closed) {
                Runnable c = running.isEmpty() || held ? commands.take() : commands.poll();
                while (c != null) {
                    c.run();
                    c = commands.poll();
                }
                if (!held && !running.isEmpty()) {
                    java.util.concurrent.Semaphore permits = stepPermits;
                    if (permits != null && !permits.tryAcquire(10, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                        continue;
                    }
                    step();
                }
            }
        } catch (InterruptedException e) {
            // closing
        }
        for (Seq s : List.copyOf(running)) {
            finish(s, FinishReason.CANCELLED);
        }
    }

    private void admit(Seq seq) {
        int[] prompt = seq.request.promptTokens();
        long[] hashes = BlockHasher.sequenceHashes(prompt, blockSize);
        int hit = 0;
        while (hit < hashes.length && cachedBlocks.contains(hashes[hit])) {
            hit++;
        }
        seq.cached = Math.min(hit * blockSize, prompt.length - 1);
        for (long h : hashes) {
            cachedBlocks.add(h);
        }
        promptTokens += prompt.length;
        cachedPromptTokens += seq.cached;
        seq.length = prompt.length;
        seq.blocks = blocksFor(seq.length);
        freeBlocks.addAndGet(-seq.blocks);
        running.add(seq);
    }

    private void step() {
        for (Seq s : List.copyOf(running)) {
            int token = s.nextToken();
            boolean eos = token == ByteTextModel.EOS && !s.request.ignoreEos();
            s.generated++;
            s.length++;
            int need = blocksFor(s.length);
            freeBlocks.addAndGet(s.blocks - need);
            s.blocks = need;
            if (eos) {
                finish(s, FinishReason.STOP);
                continue;
            }
            safe(s, () -> s.sink.onToken(tokenWithLogprobs(s.request, token)));
            if (s.request.isStopToken(token)) {
                finish(s, FinishReason.STOP);
            } else if (s.generated >= s.request.maxTokens()) {
                finish(s, FinishReason.LENGTH);
            }
        }
    }

    private void finish(Seq s, FinishReason reason) {
        if (s.done) {
            return;
        }
        running.remove(s);
        s.done = true;
        freeBlocks.addAndGet(s.blocks);
        s.blocks = 0;
        active.decrementAndGet();
        finishes.add(reason);
        generatedCounts.add(s.generated);
        Usage usage = new Usage(s.request.promptLength(), s.cached, 0, s.generated);
        safe(s, () -> s.sink.onFinish(reason, usage));
    }

    private static void safe(Seq s, Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            // a sink must not break the engine
        }
    }

    private static GeneratedToken tokenWithLogprobs(GenerateRequest request, int token) {
        if (request.topLogprobs() < 0) {
            return GeneratedToken.of(token);
        }
        int k = request.topLogprobs();
        int[] ids = new int[k];
        float[] lps = new float[k];
        for (int i = 0; i < k; i++) {
            ids[i] = i == 0 ? token : ByteTextModel.tokenOf('a' + i);
            lps[i] = -0.25f * (i + 1);
        }
        return new GeneratedToken(token, -0.25f, ids, lps);
    }

    private int blocksFor(int tokens) {
        return (tokens + blockSize - 1) / blockSize;
    }

    /** One running sequence's script. */
    private static final class Seq {
        final GenerateRequest request;
        final TokenSink sink;
        final byte[] script;
        int generated;
        int length;
        int blocks;
        int cached;
        boolean done;

        Seq(GenerateRequest request, TokenSink sink) {
            this.request = request;
            this.sink = sink;
            this.script = script(request);
        }

        int nextToken() {
            if (request.sampling().greedy()) {
                return ByteTextModel.tokenOf(script[generated % script.length] & 0xFF);
            }
            return generated < script.length ? ByteTextModel.tokenOf(script[generated] & 0xFF) : ByteTextModel.EOS;
        }

        private static byte[] script(GenerateRequest request) {
            if (request.sampling().greedy()) {
                return GREEDY_TEXT.getBytes(StandardCharsets.UTF_8);
            }
            long seed = request.sampling().seed() == null ? System.nanoTime() : request.sampling().seed();
            SplittableRandom random = new SplittableRandom(seed);
            StringBuilder sb = new StringBuilder();
            int pieces = 20 + random.nextInt(40);
            for (int i = 0; i < pieces; i++) {
                sb.append(SAMPLED_PIECES[random.nextInt(SAMPLED_PIECES.length)]);
            }
            return sb.toString().getBytes(StandardCharsets.UTF_8);
        }
    }
}
