package dev.tandem.router;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.core.WorkerRole;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Router speed with 64 workers and 1,000,000 indexed blocks (block size 16):
 * <ul>
 *   <li>{@code decide}: one routing decision for a 4,096-token prompt (256 blocks): hash the
 *       tokens ({@link PromptHasher}, into a reused array), walk the prefix index, score 64
 *       workers, pick, and finish the request (so load stays level). Sampled latency: p50 / p99.</li>
 *   <li>{@code hashPrompt} / {@code hashPromptCopying}: hashing alone, PromptHasher against
 *       BlockHasher.</li>
 *   <li>{@code decidePrehashed}: the same without hashing (index walk + scoring only).</li>
 *   <li>{@code applyEvents1} / {@code applyEvents2}: KV events of one block each (a store of a
 *       new block and the removal of an old one per invocation) applied through
 *       {@link Router#onKvEvent} on one and on two threads, each thread feeding its own workers.</li>
 * </ul>
 * <p>The machine these run on is shared, so wall-clock rates depend on the neighbours. The
 * {@link CpuTime} counters also report each thread's CPU time and operation count per
 * iteration: operations per CPU-second ({@code ops / cpuNanos}) is the per-core rate whatever
 * the contention, and {@code decideMean}'s CPU time per decision the per-core cost.
 *
 * <p>Prompts match a random cached document for a random number of leading blocks (0..256), so
 * walks range from one lookup to all 256; every document is cached on two workers.
 *
 * <p>Run (results and discussion in docs/benchmarks.md, section Router):
 * <pre>
 * ./mvnw -q -B -pl tandem-jmh -am package -DskipTests
 * java -jar tandem-jmh/target/benchmarks.jar RouterBenchmark -prof gc
 * </pre>
 */
@Fork(value = 1, jvmArgsAppend = {"-Xms3g", "-Xmx3g", "-XX:+UseParallelGC", "--add-modules=jdk.incubator.vector"})
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 5, time = 3)
public class RouterBenchmark {
    static final int WORKERS = 64;
    static final int BLOCK_SIZE = 16;
    static final int PROMPT_TOKENS = 4096;
    static final int PROMPT_BLOCKS = PROMPT_TOKENS / BLOCK_SIZE;
    static final int INDEXED_BLOCKS = 1_000_000;
    static final int VOCAB = 32_000;
    static final int PROMPTS = 1024;

    /** Tokens of cached document {@code d}: a fixed pseudo-random sequence. */
    static int[] document(int d, int tokens) {
        SplittableRandom rnd = new SplittableRandom(0xD0C0L + d);
        int[] out = new int[tokens];
        for (int i = 0; i < tokens; i++) {
            out[i] = rnd.nextInt(VOCAB);
        }
        return out;
    }

    /** A router holding 1,000,000 distinct blocks over 64 workers, and prompts to route. */
    @State(Scope.Benchmark)
    public static class Loaded {
        Router router;
        int[][] prompts;
        long[][] prehashed;
        /** Next event id per worker, for the event benchmarks to continue from. */
        long[] eventIds;
        int next;

        @Setup(Level.Trial)
        public void setUp() {
            router = Router.create(RouterConfig.defaults(), id -> { }, System::nanoTime, new Random(1));
            eventIds = new long[WORKERS];
            for (int w = 0; w < WORKERS; w++) {
                router.addWorker("w" + w, WorkerRole.AGGREGATED, true);
            }
            int documents = (INDEXED_BLOCKS + PROMPT_BLOCKS - 1) / PROMPT_BLOCKS;   // 3,907
            for (int d = 0; d < documents; d++) {
                int blocks = Math.min(PROMPT_BLOCKS, INDEXED_BLOCKS - d * PROMPT_BLOCKS);
                long[] hashes = BlockHasher.sequenceHashes(document(d, blocks * BLOCK_SIZE), BLOCK_SIZE);
                for (int copy = 0; copy < 2; copy++) {
                    int w = (d + copy * 31) % WORKERS;
                    router.onKvEvent("w" + w, new KvEvent.Stored(eventIds[w]++, false, 0, hashes, hashes));
                }
            }
            SplittableRandom rnd = new SplittableRandom(42);
            for (int w = 0; w < WORKERS; w++) {
                router.onLoadReport("w" + w, new LoadReport(16_384, rnd.nextInt(8_000), 0, 4, 0,
                        rnd.nextInt(8_192), 0, 0));
            }
            prompts = new int[PROMPTS][];
            prehashed = new long[PROMPTS][];
            for (int p = 0; p < PROMPTS; p++) {
                int shared = rnd.nextInt(PROMPT_BLOCKS + 1) * BLOCK_SIZE;
                int[] tokens = new int[PROMPT_TOKENS];
                System.arraycopy(document(rnd.nextInt(documents - 1), PROMPT_TOKENS), 0, tokens, 0, shared);
                for (int i = shared; i < PROMPT_TOKENS; i++) {
                    tokens[i] = rnd.nextInt(VOCAB);
                }
                prompts[p] = tokens;
                prehashed[p] = BlockHasher.sequenceHashes(tokens, BLOCK_SIZE);
            }
            if (router.stats().indexedBlocks() != INDEXED_BLOCKS) {
                throw new IllegalStateException("expected " + INDEXED_BLOCKS + " blocks, indexed "
                        + router.stats().indexedBlocks());
            }
        }
    }

    /** One thread's hasher and hash buffer, reused by every decision (as a frontend thread would). */
    @State(Scope.Thread)
    public static class Hashing {
        final PromptHasher hasher = new PromptHasher(BLOCK_SIZE);
        final long[] hashes = new long[PROMPT_BLOCKS];
    }

    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public Decision decide(Loaded s, Hashing h) {
        int[] tokens = s.prompts[s.next++ & (PROMPTS - 1)];
        h.hasher.sequenceHashes(tokens, PROMPT_TOKENS, h.hashes);
        Decision d = s.router.route(RouteRequest.of("r", h.hashes, PROMPT_TOKENS));
        s.router.finished((Decision.Routed) d);
        return d;
    }

    /** Hashing alone: 4,096 tokens into 256 sequence hashes, in place (PromptHasher). */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public long[] hashPrompt(Loaded s, Hashing h) {
        h.hasher.sequenceHashes(s.prompts[s.next++ & (PROMPTS - 1)], PROMPT_TOKENS, h.hashes);
        return h.hashes;
    }

    /** Hashing alone with BlockHasher (tokens copied into bytes, new arrays), for comparison. */
    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public long[] hashPromptCopying(Loaded s) {
        return BlockHasher.sequenceHashes(s.prompts[s.next++ & (PROMPTS - 1)], BLOCK_SIZE);
    }

    @Benchmark
    @BenchmarkMode(Mode.SampleTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public Decision decidePrehashed(Loaded s) {
        long[] hashes = s.prehashed[s.next++ & (PROMPTS - 1)];
        Decision d = s.router.route(RouteRequest.of("r", hashes, PROMPT_TOKENS));
        s.router.finished((Decision.Routed) d);
        return d;
    }

    /**
     * One thread's event source: one of the 64 workers (w0 for the first thread, w1 for the
     * second), continuing its event numbers, with a window of 100,000 extra live blocks that it
     * keeps sliding (the index stays at about 1.1 or 1.2 million blocks).
     */
    @State(Scope.Thread)
    public static class EventSource {
        private static final AtomicInteger THREADS = new AtomicInteger();
        private static final int LIVE_BLOCKS = 100_000;
        String workerId;
        long[] live;
        int position;
        long nextEventId;
        long nextHash;

        @Setup(Level.Trial)
        public void setUp(Loaded shared) {
            int thread = THREADS.getAndIncrement() % WORKERS;
            workerId = "w" + thread;
            nextEventId = shared.eventIds[thread];
            nextHash = (thread + 1L) << 48;
            live = new long[LIVE_BLOCKS];
            for (int i = 0; i < LIVE_BLOCKS; i++) {
                live[i] = nextHash++;
            }
            shared.router.onKvEvent(workerId, new KvEvent.Stored(nextEventId++, false, 0, live.clone(), live.clone()));
        }
    }

    private static void slide(Router router, EventSource e) {
        long old = e.live[e.position];
        long fresh = e.nextHash++;
        e.live[e.position] = fresh;
        e.position = e.position + 1 == e.live.length ? 0 : e.position + 1;
        router.onKvEvent(e.workerId, new KvEvent.Removed(e.nextEventId++, new long[] {old}));
        router.onKvEvent(e.workerId, new KvEvent.Stored(e.nextEventId++, true, old, new long[] {fresh},
                new long[] {fresh}));
    }

    /**
     * Per-thread CPU time and operations of each iteration (JMH sums them over threads), so a
     * rate per CPU-second can be computed under contention.
     */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class CpuTime {
        private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
        /** CPU time the benchmark thread used in the iteration, ns. */
        public long cpuNanos;
        /** Operations the thread completed in the iteration (events, or decisions). */
        public long operations;
        private long startCpuNanos;

        @Setup(Level.Iteration)
        public void start() {
            operations = 0;
            cpuNanos = 0;
            startCpuNanos = THREADS.getCurrentThreadCpuTime();
        }

        @TearDown(Level.Iteration)
        public void stop() {
            cpuNanos = THREADS.getCurrentThreadCpuTime() - startCpuNanos;
        }
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public Decision decideMean(Loaded s, Hashing h, CpuTime cpu) {
        cpu.operations++;
        return decide(s, h);
    }

    @Benchmark
    @Threads(1)
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    @OperationsPerInvocation(2)
    public void applyEvents1(Loaded s, EventSource e, CpuTime cpu) {
        cpu.operations += 2;
        slide(s.router, e);
    }

    @Benchmark
    @Threads(2)
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    @OperationsPerInvocation(2)
    public void applyEvents2(Loaded s, EventSource e, CpuTime cpu) {
        cpu.operations += 2;
        slide(s.router, e);
    }
}
