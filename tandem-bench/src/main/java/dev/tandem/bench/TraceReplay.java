package dev.tandem.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.BlockHasher;
import dev.tandem.core.ConfigException;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.SamplingParams;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.mock.SimulationDriver;
import dev.tandem.engine.mock.TimingProfile;
import dev.tandem.engine.mock.VirtualClock;
import dev.tandem.router.Decision;
import dev.tandem.router.RouteRequest;
import dev.tandem.router.Router;
import dev.tandem.router.RouterConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Replays a Mooncake-format trace against N mock workers behind the router, on simulated time,
 * and measures what the routing policy achieved: prefix hit rate, time to first token, end to
 * end latency and how evenly prompt tokens spread.
 *
 * <pre>
 * Design
 *   Every trace block id stands for 512 tokens; the replay turns id X into a fixed pseudo-random
 *   run of 512 token ids, so equal ids give equal tokens and a prompt is the concatenation of
 *   its blocks cut to input_length. Workers are mock engines (the real block manager, prefix
 *   cache, scheduler and KV events; step times from Dynamo's mocker polynomial) driven by one
 *   SimulationDriver on a VirtualClock: the replay advances the clock to each arrival, routes
 *   the request (block hashes as the frontend computes them), submits it, and lets the engines
 *   run. KV events and load reports flow from each engine to the router synchronously, as an
 *   event plane with no loss would deliver them. Everything is single-threaded and seeded, so a
 *   replay is reproducible.
 *
 *   hit rate        = prompt blocks the engines served from their caches / prompt blocks
 *   ideal hit rate  = the same for one infinite cache shared by all workers (computed from the
 *                     trace alone: leading block ids seen before, over all block references)
 *   load spread     = most prompt tokens sent to one worker / mean over workers
 *
 * Concurrency
 *   Not thread-safe; run() owns its engines, router and clock and closes the engines.
 *
 * References
 *   Mooncake (FAST '25) trace format; Dynamo's mocker and its KV-router replay benchmarks.
 * </pre>
 */
public final class TraceReplay {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Tokens per block id in Mooncake traces. */
    public static final int TRACE_BLOCK_TOKENS = 512;

    /**
     * @param workers           mock workers, 1 .. 1024
     * @param policy            routing policy
     * @param blockSizeTokens   engine and router block size, 1 .. 1024 (512 matches the trace)
     * @param kvTokensPerWorker KV capacity of each worker in tokens (a multiple of the block size)
     * @param maxBatchTokens    engine batch limit (prefill chunk) in tokens
     * @param limit             replay only the first rows (0 = all)
     * @param seed              router randomness
     * @param overlapWeight     KV cost weight
     * @param temperature       KV softmax temperature
     */
    public record Options(int workers, RouterConfig.PolicyKind policy, int blockSizeTokens, long kvTokensPerWorker,
                          int maxBatchTokens, int limit, long seed, double overlapWeight, double temperature) {
        public Options {
            if (workers < 1 || workers > 1024) {
                throw new ConfigException("--workers must be in [1, 1024], got " + workers);
            }
            if (blockSizeTokens < 1 || blockSizeTokens > 1024) {
                throw new ConfigException("--block-size must be in [1, 1024] tokens, got " + blockSizeTokens);
            }
            if (kvTokensPerWorker < blockSizeTokens || kvTokensPerWorker / blockSizeTokens > Integer.MAX_VALUE) {
                throw new ConfigException("--kv-tokens must hold at least one block of " + blockSizeTokens
                        + " tokens, got " + kvTokensPerWorker);
            }
            if (maxBatchTokens < 64) {
                throw new ConfigException("--max-batch-tokens must be at least 64, got " + maxBatchTokens);
            }
            if (limit < 0) {
                throw new ConfigException("--limit must be >= 0, got " + limit);
            }
        }
    }

    /**
     * What a replay achieved (times in simulated milliseconds).
     *
     * @param overlapAgreement share of requests whose predicted overlap (router) equals the
     *                         cached prompt tokens the worker reported
     */
    public record Result(String policy, int workers, long kvTokensPerWorker, int requests, int failed, double hitRate,
                         double idealHitRate, double ttftMeanMs, double ttftP50Ms, double ttftP99Ms, double e2eMeanMs,
                         double e2eP50Ms, double e2eP99Ms, double maxOverMeanPromptTokens, double overlapAgreement,
                         double simulatedSeconds, double wallSeconds) {
    }

    private TraceReplay() {
    }

    /** Reads a Mooncake JSONL trace (see {@link TraceReader}). */
    public static List<TraceRecord> read(Path file, int limit) {
        return TraceReader.read(file, limit, TRACE_BLOCK_TOKENS);
    }

    /** Hit rate of one infinite cache shared by every worker: leading block ids seen before. */
    public static double idealHitRate(List<TraceRecord> rows) {
        Set<Long> seen = new HashSet<>();
        long hits = 0;
        long refs = 0;
        for (TraceRecord r : rows) {
            List<Long> ids = r.hashIds();
            int i = 0;
            while (i < ids.size() && seen.contains(ids.get(i))) {
                i++;
            }
            hits += i;
            refs += ids.size();
            seen.addAll(ids);
        }
        return (double) hits / refs;
    }

    /** The prompt a row stands for: each block id becomes 512 fixed pseudo-random token ids. */
    static int[] tokens(TraceRecord r) {
        int[] out = new int[r.inputLength()];
        for (int i = 0; i < out.length; i++) {
            long id = r.hashIds().get(i / TRACE_BLOCK_TOKENS);
            out[i] = (int) (mix(id * TRACE_BLOCK_TOKENS + i % TRACE_BLOCK_TOKENS) >>> 33);
        }
        return out;
    }

    private static long mix(long x) {
        x = (x ^ (x >>> 30)) * 0xBF58476D1CE4E5B9L;
        x = (x ^ (x >>> 27)) * 0x94D049BB133111EBL;
        return x ^ (x >>> 31);
    }

    /** Per-request measurements, indexed by row. */
    private static final class Book {
        final long[] arrivalNs;
        final long[] firstTokenNs;
        final long[] finishNs;
        final int[] cachedTokens;
        final int[] predictedTokens;
        final boolean[] failed;

        Book(int n) {
            arrivalNs = new long[n];
            firstTokenNs = new long[n];
            finishNs = new long[n];
            cachedTokens = new int[n];
            predictedTokens = new int[n];
            failed = new boolean[n];
            Arrays.fill(firstTokenNs, -1);
            Arrays.fill(finishNs, -1);
        }
    }

    /** Replays {@code rows} with {@code o}; see the class notes. */
    public static Result run(List<TraceRecord> rows, Options o) {
        long wallStart = System.nanoTime();
        VirtualClock clock = new VirtualClock();
        SimulationDriver driver = new SimulationDriver(clock);
        List<String> gaps = new ArrayList<>();
        RouterConfig rc = RouterConfig.defaults().withBlockSizeTokens(o.blockSizeTokens())
                .withMaxWorkers(Math.max(64, o.workers())).withPolicy(o.policy())
                .withCost(o.overlapWeight(), o.temperature());
        Router router = Router.create(rc, gaps::add, clock::nanoTime, new Random(o.seed()));
        int contextLength = 2;
        for (TraceRecord r : rows) {
            contextLength = Math.max(contextLength, r.inputLength() + r.outputLength() + 1);
        }
        EngineConfig ec = EngineConfig.DEFAULT.withBlockSizeTokens(o.blockSizeTokens())
                .withKvBlocks((int) (o.kvTokensPerWorker() / o.blockSizeTokens()))
                .withBatchLimits(o.maxBatchTokens(), EngineConfig.DEFAULT_MAX_SEQUENCES)
                .withMaxQueuedRequests(Math.max(EngineConfig.DEFAULT_MAX_QUEUED_REQUESTS, rows.size()));
        MockConfig mc = MockConfig.DEFAULT.withEngine(ec).withContextLength(contextLength).withTiming(TimingProfile.DYNAMO);
        LlmEngine[] engines = new LlmEngine[o.workers()];
        List<AutoCloseable> subscriptions = new ArrayList<>();
        Book book = new Book(rows.size());
        long[] promptTokensPerWorker = new long[o.workers()];
        try {
            for (int w = 0; w < engines.length; w++) {
                String id = "w" + w;
                engines[w] = driver.add(MockEngine.driven(mc.withSeed(w), clock));
                router.addWorker(id, WorkerRole.AGGREGATED, true);
                subscriptions.add(engines[w].subscribe(e -> router.onKvEvent(id, e)));
                subscriptions.add(engines[w].subscribeLoad(l -> router.onLoadReport(id, l)));
            }
            for (int i = 0; i < rows.size(); i++) {
                TraceRecord r = rows.get(i);
                long at = TimeUnit.MILLISECONDS.toNanos(r.timestampMs());
                driver.runUntil(Math.max(at, clock.nanoTime()));
                router.doWork();
                book.arrivalNs[i] = clock.nanoTime();
                int[] prompt = tokens(r);
                Decision d = router.route(RouteRequest.of("r" + i, BlockHasher.sequenceHashes(prompt, o.blockSizeTokens()),
                        prompt.length));
                if (!(d instanceof Decision.Routed routed)) {
                    book.failed[i] = true;
                    continue;
                }
                int w = Integer.parseInt(routed.workerId().substring(1));
                book.predictedTokens[i] = routed.overlapTokens();
                promptTokensPerWorker[w] += r.inputLength();
                engines[w].submit(new GenerateRequest("r" + i, prompt, SamplingParams.GREEDY, r.outputLength(), null,
                        true, -1), new Sink(i, routed, router, clock, book));
            }
            driver.runUntilIdle(Long.MAX_VALUE);
        } finally {
            for (AutoCloseable s : subscriptions) {
                try {
                    s.close();
                } catch (Exception e) {
                    // closing a listener of an engine about to close: nothing to recover
                }
            }
            for (LlmEngine e : engines) {
                if (e != null) {
                    e.close();
                }
            }
        }
        if (!gaps.isEmpty()) {
            throw new IllegalStateException("KV event gaps in a lossless replay: " + gaps);
        }
        return summarise(rows, o, book, promptTokensPerWorker, clock.nanoTime(), System.nanoTime() - wallStart);
    }

    /** Records a request's first token and end, and tells the router. */
    private static final class Sink implements TokenSink {
        private final int index;
        private final Decision.Routed decision;
        private final Router router;
        private final VirtualClock clock;
        private final Book book;

        Sink(int index, Decision.Routed decision, Router router, VirtualClock clock, Book book) {
            this.index = index;
            this.decision = decision;
            this.router = router;
            this.clock = clock;
            this.book = book;
        }

        @Override
        public void onToken(GeneratedToken token) {
            if (book.firstTokenNs[index] < 0) {
                book.firstTokenNs[index] = clock.nanoTime();
                router.prefillDone(decision);
            }
        }

        @Override
        public void onFinish(FinishReason reason, Usage usage) {
            book.finishNs[index] = clock.nanoTime();
            book.cachedTokens[index] = usage.cachedPromptTokens();
            router.finished(decision);
        }

        @Override
        public void onError(TandemException error) {
            book.failed[index] = true;
            router.finished(decision);
        }
    }

    private static Result summarise(List<TraceRecord> rows, Options o, Book book, long[] promptTokensPerWorker, long endNs,
                                    long wallNs) {
        int n = rows.size();
        long hitBlocks = 0;
        long promptBlocks = 0;
        int agree = 0;
        int done = 0;
        int failed = 0;
        long[] ttft = new long[n];
        long[] e2e = new long[n];
        for (int i = 0; i < n; i++) {
            if (book.failed[i] || book.finishNs[i] < 0) {
                failed++;
                continue;
            }
            TraceRecord r = rows.get(i);
            hitBlocks += book.cachedTokens[i] / o.blockSizeTokens();
            promptBlocks += (r.inputLength() + o.blockSizeTokens() - 1) / o.blockSizeTokens();
            if (book.cachedTokens[i] == book.predictedTokens[i]) {
                agree++;
            }
            ttft[done] = book.firstTokenNs[i] - book.arrivalNs[i];
            e2e[done] = book.finishNs[i] - book.arrivalNs[i];
            done++;
        }
        long[] t = Arrays.copyOf(ttft, done);
        long[] e = Arrays.copyOf(e2e, done);
        Arrays.sort(t);
        Arrays.sort(e);
        long max = Arrays.stream(promptTokensPerWorker).max().orElse(0);
        double mean = Arrays.stream(promptTokensPerWorker).average().orElse(0);
        return new Result(o.policy().configName(), o.workers(), o.kvTokensPerWorker(), n, failed,
                promptBlocks == 0 ? 0 : (double) hitBlocks / promptBlocks, idealHitRate(rows), meanMs(t),
                percentileMs(t, 0.50), percentileMs(t, 0.99), meanMs(e), percentileMs(e, 0.50), percentileMs(e, 0.99),
                mean == 0 ? 0 : max / mean, done == 0 ? 0 : (double) agree / done, endNs / 1e9, wallNs / 1e9);
    }

    /** Flat JSON: one object, or an array of them for several results. */
    public static String json(List<Result> results) {
        List<java.util.Map<String, Object>> out = new ArrayList<>();
        for (Result r : results) {
            java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
            m.put("policy", r.policy());
            m.put("workers", r.workers());
            m.put("kv_tokens", r.kvTokensPerWorker());
            m.put("requests", r.requests());
            m.put("failed", r.failed());
            m.put("hit_rate", round(r.hitRate()));
            m.put("ideal_hit_rate", round(r.idealHitRate()));
            m.put("ttft_mean_ms", round(r.ttftMeanMs()));
            m.put("ttft_p50_ms", round(r.ttftP50Ms()));
            m.put("ttft_p99_ms", round(r.ttftP99Ms()));
            m.put("e2e_mean_ms", round(r.e2eMeanMs()));
            m.put("e2e_p50_ms", round(r.e2eP50Ms()));
            m.put("e2e_p99_ms", round(r.e2eP99Ms()));
            m.put("max_over_mean_prompt_tokens", round(r.maxOverMeanPromptTokens()));
            m.put("overlap_agreement", round(r.overlapAgreement()));
            m.put("simulated_seconds", round(r.simulatedSeconds()));
            m.put("wall_seconds", round(r.wallSeconds()));
            out.add(m);
        }
        try {
            return JSON.writeValueAsString(out.size() == 1 ? out.getFirst() : out);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write JSON", e);
        }
    }

    /** A text table, one line per result. */
    public static String table(List<Result> results) {
        StringBuilder b = new StringBuilder();
        b.append(String.format("%-16s %7s %9s %8s %8s %9s %9s %9s %9s %9s %8s %8s %7s%n", "policy", "workers",
                "kv-tokens", "hit", "ideal", "ttft-mean", "ttft-p99", "e2e-mean", "e2e-p99", "max/mean", "agree",
                "sim-s", "wall-s"));
        for (Result r : results) {
            b.append(String.format("%-16s %7d %9d %7.1f%% %7.1f%% %7.0fms %7.0fms %7.0fms %7.0fms %9.2f %7.1f%% %8.0f %7.1f%n",
                    r.policy(), r.workers(), r.kvTokensPerWorker(), 100 * r.hitRate(), 100 * r.idealHitRate(),
                    r.ttftMeanMs(), r.ttftP99Ms(), r.e2eMeanMs(), r.e2eP99Ms(), r.maxOverMeanPromptTokens(),
                    100 * r.overlapAgreement(), r.simulatedSeconds(), r.wallSeconds()));
        }
        if (results.stream().anyMatch(r -> r.failed() > 0)) {
            results.forEach(r -> b.append(r.policy()).append(": ").append(r.failed()).append(" requests failed\n"));
        }
        return b.toString().stripTrailing();
    }

    private static double round(double v) {
        return Math.round(v * 10_000) / 10_000.0;
    }

    private static double meanMs(long[] sortedNs) {
        return sortedNs.length == 0 ? 0 : Arrays.stream(sortedNs).average().orElse(0) / 1e6;
    }

    /** Nearest-rank percentile. */
    private static double percentileMs(long[] sortedNs, double q) {
        if (sortedNs.length == 0) {
            return 0;
        }
        int rank = (int) Math.ceil(q * sortedNs.length) - 1;
        return sortedNs[Math.max(0, Math.min(sortedNs.length - 1, rank))] / 1e6;
    }
}
