package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tandem.bench.ForwardTimer;
import dev.tandem.bench.ReadBandwidth;
import dev.tandem.bench.ServingBench;
import dev.tandem.core.ConfigException;
import dev.tandem.core.KvDtype;
import dev.tandem.core.OutputConstraint;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.mock.ProfileCalibrator;
import dev.tandem.engine.mock.TimingProfile;
import dev.tandem.engine.model.ModelConfig;
import dev.tandem.engine.model.Transformer;
import dev.tandem.engine.ops.KernelPool;
import dev.tandem.engine.ops.KernelTuner;
import dev.tandem.engine.ops.Simd;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code tandem bench engine}: prompt-processing and decode speed of the engine on one model,
 * measured like llama.cpp's llama-bench (see {@link ForwardTimer}) so the two can be compared
 * side by side. Each run is one concurrency level: without {@code --concurrency} the one
 * sequence of the llama-bench definitions; with it, the serving engine ({@link ServingBench}) at
 * each level, plus time-to-first-token with and without a cached prefix
 * ({@code --shared-prefix-tokens}).
 */
@Command(name = "engine", mixinStandardHelpOptions = true,
        description = {"Measure the engine's prefill and decode speed on a model (median of several repetitions",
            "after a warm-up). Definitions match llama.cpp's llama-bench pp and tg tests."})
final class BenchEngineCommand implements Runnable {
    @Option(names = "--model", paramLabel = "MODEL",
            description = "a .gguf file, a Hugging Face directory or a model name (default: stories260K)")
    Path model;

    @Option(names = "--prompt-tokens", defaultValue = "256",
            description = "prompt tokens processed in one step (default: ${DEFAULT-VALUE})")
    int promptTokens;

    @Option(names = "--gen-tokens", defaultValue = "64",
            description = "tokens decoded one step at a time (default: ${DEFAULT-VALUE})")
    int genTokens;

    @Option(names = "--threads", description = "kernel threads (default: the number of cores)")
    Integer threads;

    @Option(names = "--reps", defaultValue = "5", description = "timed repetitions (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--warmup", defaultValue = "1", description = "untimed warm-up repetitions (default: ${DEFAULT-VALUE})")
    int warmup;

    @Option(names = "--warmup-seconds", defaultValue = "5",
            description = "keep warming up (more untimed repetitions) until this long has passed, so that the JIT has "
                    + "compiled the kernels even on tiny models; --warmup 0 skips warm-up (default: ${DEFAULT-VALUE})")
    double warmupSeconds;

    @Option(names = "--kv-dtype", defaultValue = "f16",
            description = "KV-cache element type, f16 (as llama.cpp) or f32 (default: ${DEFAULT-VALUE})")
    String kvDtype;

    @Option(names = "--block-size", defaultValue = "16", description = "KV block size, tokens (default: ${DEFAULT-VALUE})")
    int blockSize;

    @Option(names = "--json", description = "print one JSON object instead of a table")
    boolean json;

    @Option(names = "--concurrency", split = ",", paramLabel = "C[,C...]",
            description = "also run the serving engine with C requests at once, per level (e.g. 1,4,16): aggregate "
                    + "decode tok/s, prompt tok/s and time to first token")
    List<Integer> concurrency;

    @Option(names = "--shared-prefix-tokens", defaultValue = "0",
            description = "also measure the time to first token of a --prompt-tokens prompt whose first N tokens are "
                    + "cached, against an uncached one (default: ${DEFAULT-VALUE}, skipped)")
    int sharedPrefixTokens;

    @Option(names = "--calibrate-mock",
            description = "also fit the mock engine's timing profile to this model: prefill steps of 16..256 tokens, "
                    + "decode steps of 1..16 sequences of 128 positions")
    boolean calibrateMock;

    @Option(names = "--bandwidth-mib", defaultValue = "0", paramLabel = "MIB",
            description = "also measure the streaming read bandwidth with --threads threads over a buffer of MIB MiB "
                    + "(e.g. 1024; larger than the caches) and report decode's weight reads as a fraction of it "
                    + "(default: ${DEFAULT-VALUE}, skipped)")
    int bandwidthMib;

    @Option(names = "--json-schema", paramLabel = "FILE",
            description = "with --concurrency: constrain every request's output to this JSON Schema (constrained decoding)")
    Path jsonSchema;

    @Option(names = "--max-batch-tokens", defaultValue = "512",
            description = "serving runs: most tokens per engine step (default: ${DEFAULT-VALUE})")
    int maxBatchTokens;

    /** Median, min and max of one measurement's repetitions, tokens per second. */
    record Stats(double median, double min, double max, List<Double> samples) {
        static Stats of(double[] tokensPerSecond) {
            double[] sorted = tokensPerSecond.clone();
            Arrays.sort(sorted);
            int n = sorted.length;
            double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
            return new Stats(median, sorted[0], sorted[n - 1], Arrays.stream(tokensPerSecond).boxed().toList());
        }
    }

    /** One concurrency level's results. */
    record Run(int concurrency, Stats prefill, Stats decode) {
    }

    @Override
    public void run() {
        validate();
        int threadCount = threads == null ? KernelPool.defaultThreadCount() : threads;
        KvDtype dtype = KvDtype.parse(kvDtype);
        PrintStream err = System.err;
        model = ModelPaths.resolve(model == null ? null : model.toString());
        try (GgufFile gguf = GgufFile.open(model);
             Transformer transformer = new Transformer(gguf, promptTokens, threadCount)) {
            ModelConfig c = transformer.config();
            int bos = (int) gguf.integer("tokenizer.ggml.bos_token_id", 1);
            int context = Math.max(promptTokens, genTokens);
            if (context > c.contextLength()) {
                throw new ConfigException("--prompt-tokens/--gen-tokens " + context + " exceed the model's context length "
                        + c.contextLength());
            }
            err.printf("bench engine: %s (%s, %d layers, dim %d), %d thread(s), %s, KV %s%n", model, c.architecture(),
                    c.layerCount(), c.embeddingDim(), threadCount, Simd.describe(), dtype);
            List<Run> runs = new ArrayList<>();
            try (ForwardTimer timer = new ForwardTimer(transformer, context, dtype, blockSize)) {
                runs.add(measureOne(timer, c, bos, err));
            }
            ProfileCalibrator.Result calibration = calibrateMock ? calibrate(gguf, threadCount, dtype, err) : null;
            Serving serving = concurrency != null || sharedPrefixTokens > 0 ? measureServing(threadCount, dtype, bos, err) : null;
            ReadBandwidth.Result bandwidth = bandwidthMib > 0 ? measureBandwidth(threadCount, err) : null;
            report(transformer, threadCount, dtype, runs, serving, bandwidth);
            if (calibration != null) {
                TimingProfile t = calibration.profile();
                String line = String.format(java.util.Locale.ROOT, "new TimingProfile(\"%s\", %.4g, %.4g, %.4g, %.4g, %.4g, %.4g, 1.0)",
                        t.name(), t.prefillQuadraticMs(), t.prefillLinearMs(), t.prefillConstantMs(),
                        t.decodeQuadraticMs(), t.decodeLinearMs(), t.decodeConstantMs());
                err.println("mock profile: " + calibration);
                (json ? err : System.out).println("mock profile: " + line);
            }
        }
    }

    /** Results of the serving runs (levels may be empty when only the prefix test ran). */
    record Serving(List<ServingBench.LevelResult> levels, ServingBench.PrefixResult prefix) {
    }

    private Serving measureServing(int threadCount, KvDtype dtype, int bos, PrintStream err) {
        List<Integer> levels = concurrency == null ? List.of() : concurrency;
        int maxLevel = levels.stream().mapToInt(Integer::intValue).max().orElse(1);
        int perRequest = (promptTokens + genTokens + blockSize - 1) / blockSize;
        int blocks = maxLevel * perRequest + 2 * ((promptTokens + blockSize) / blockSize) + 4;
        EngineConfig config = EngineConfig.DEFAULT.withBlockSizeTokens(blockSize).withKvDtype(dtype).withKvBlocks(blocks)
                .withBatchLimits(Math.max(maxBatchTokens, maxLevel), maxLevel);
        err.printf("serving: %d KV blocks, max batch %d tokens / %d sequences%n", blocks, config.maxBatchTokens(), maxLevel);
        try (LlmEngine engine = LlmEngine.open(model, config, threadCount)) {
            ServingBench bench = new ServingBench(engine, bos, err);
            if (jsonSchema != null) {
                try {
                    bench.constrain(OutputConstraint.jsonSchema(Files.readString(jsonSchema)));
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read " + jsonSchema, e);
                }
            }
            List<ServingBench.LevelResult> results = new ArrayList<>();
            for (int level : levels) {
                results.add(bench.level(level, promptTokens, genTokens, warmup, reps));
            }
            ServingBench.PrefixResult prefix = sharedPrefixTokens > 0
                    ? bench.prefix(promptTokens, sharedPrefixTokens, warmup, reps) : null;
            return new Serving(results, prefix);
        }
    }

    private ProfileCalibrator.Result calibrate(GgufFile gguf, int threadCount, KvDtype dtype, PrintStream err) {
        int[] prefill = {16, 32, 64, 128, 256};
        int[] decode = {1, 2, 4, 8, 16};
        err.println("calibrating the mock profile: prefill " + Arrays.toString(prefill) + " tokens, decode "
                + Arrays.toString(decode) + " sequences of 128 positions");
        try (Transformer t = new Transformer(gguf, 256, threadCount)) {
            String name = model.getFileName().toString().replaceFirst("\\.gguf$", "") + "-" + threadCount + "t";
            return new ProfileCalibrator(t, t.kvLayout(blockSize, dtype), Math.max(3, reps))
                    .calibrate(name, prefill, decode, 128, 256);
        }
    }

    private ReadBandwidth.Result measureBandwidth(int threadCount, PrintStream err) {
        err.printf("read bandwidth: %d MiB buffer, %d thread(s)%n", bandwidthMib, threadCount);
        try {
            return new ReadBandwidth(bandwidthMib * 1024L * 1024L).measure(threadCount, 5, 4);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ConfigException("interrupted while measuring the read bandwidth");
        }
    }

    private void validate() {
        if (promptTokens < 1 || genTokens < 1 || reps < 1 || warmup < 0 || blockSize < 1 || !(warmupSeconds >= 0)) {
            throw new ConfigException("--prompt-tokens, --gen-tokens, --reps and --block-size must be positive and "
                    + "--warmup and --warmup-seconds not negative (got " + promptTokens + ", " + genTokens + ", " + reps
                    + ", " + blockSize + ", " + warmup + ", " + warmupSeconds + ")");
        }
        if (bandwidthMib < 0 || bandwidthMib > 16 * 1024) {
            throw new ConfigException("--bandwidth-mib must be in [0, 16384], got " + bandwidthMib);
        }
        if (threads != null && threads < 1) {
            throw new ConfigException("--threads must be at least 1, got " + threads);
        }
        if (concurrency != null && concurrency.stream().anyMatch(c -> c < 1 || c > 1024)) {
            throw new ConfigException("--concurrency levels must be in [1, 1024], got " + concurrency);
        }
        if (sharedPrefixTokens < 0 || sharedPrefixTokens >= promptTokens) {
            throw new ConfigException("--shared-prefix-tokens must be in [0, --prompt-tokens), got " + sharedPrefixTokens);
        }
    }

    /** Concurrency 1: one sequence's prefill and greedy decode. */
    private Run measureOne(ForwardTimer timer, ModelConfig c, int bos, PrintStream err) {
        int[] prompt = ForwardTimer.promptTokens(promptTokens, c.vocabSize(), bos, 1234);
        double[] prefill = new double[reps];
        double[] decode = new double[reps];
        long warmupEndNs = System.nanoTime() + (long) (warmupSeconds * 1e9);
        int warmups = 0;
        while (warmups < warmup || (warmup > 0 && System.nanoTime() < warmupEndNs)) {
            double pp = promptTokens / timer.prefillSeconds(prompt);
            double tg = genTokens / timer.decodeSeconds(bos, genTokens);
            warmups++;
            if (warmups <= warmup || warmups % 10 == 0) {
                err.printf("  warm-up %d: prefill %.1f tok/s, decode %.1f tok/s%n", warmups, pp, tg);
            }
        }
        for (int i = 0; i < reps; i++) {
            double pp = promptTokens / timer.prefillSeconds(prompt);
            double tg = genTokens / timer.decodeSeconds(bos, genTokens);
            err.printf("  rep %d/%d: prefill %.1f tok/s, decode %.1f tok/s%n", i + 1, reps, pp, tg);
            prefill[i] = pp;
            decode[i] = tg;
        }
        return new Run(1, Stats.of(prefill), Stats.of(decode));
    }

    private void report(Transformer transformer, int threadCount, KvDtype dtype, List<Run> runs, Serving serving,
                        ReadBandwidth.Result bandwidth) {
        ModelConfig c = transformer.config();
        long decodeBytes = transformer.weights().decodeBytesPerToken();
        Run first = runs.getFirst();
        if (json) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("model", model.toString());
            out.put("architecture", c.architecture());
            out.put("weight_type", transformer.weights().weightType().name());
            out.put("threads", threadCount);
            out.put("kernels", Simd.describe());
            List<Map<String, Object>> chosen = new ArrayList<>();
            for (KernelTuner.Choice k : transformer.kernelChoices()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("type", k.type().name());
                m.put("decode", k.plan().decode().name().toLowerCase(java.util.Locale.ROOT));
                m.put("rows_min_tokens", k.plan().rowsMinTokens());
                m.put("gemm_min_tokens", k.plan().gemmMinTokens());
                m.put("measured", k.measured());
                m.put("gemm_measured", k.gemmMeasured());
                m.put("best_nanos", k.bestNanos());
                chosen.add(m);
            }
            out.put("kernel_choices", chosen);
            out.put("kv_dtype", dtype.name());
            out.put("prompt_tokens", promptTokens);
            out.put("gen_tokens", genTokens);
            out.put("reps", reps);
            out.put("decode_bytes_per_token", decodeBytes);
            out.put("prefill_tokens_per_second", first.prefill().median());
            out.put("decode_tokens_per_second", first.decode().median());
            out.put("decode_weight_bytes_per_second", first.decode().median() * decodeBytes);
            if (bandwidth != null) {
                out.put("read_bandwidth_bytes_per_second", bandwidth.median());
                out.put("read_bandwidth", bandwidth);
                out.put("decode_bandwidth_fraction", first.decode().median() * decodeBytes / bandwidth.median());
            }
            List<Map<String, Object>> runList = new ArrayList<>();
            for (Run r : runs) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("concurrency", r.concurrency());
                m.put("prefill_tokens_per_second", r.prefill().median());
                m.put("decode_tokens_per_second", r.decode().median());
                m.put("prefill", r.prefill());
                m.put("decode", r.decode());
                runList.add(m);
            }
            out.put("runs", serving != null && !serving.levels().isEmpty() ? servingRuns(serving) : runList);
            if (serving != null && serving.prefix() != null) {
                ServingBench.PrefixResult p = serving.prefix();
                out.put("ttft_uncached_ms", p.uncachedTtftMs().median());
                out.put("ttft_cached_prefix_ms", p.cachedTtftMs().median());
                out.put("ttft_speedup", p.speedup());
                Map<String, Object> pm = new LinkedHashMap<>();
                pm.put("prompt_tokens", p.promptTokens());
                pm.put("shared_prefix_tokens", p.sharedPrefixTokens());
                pm.put("cached_tokens", p.cachedTokens());
                pm.put("ttft_uncached_ms", p.uncachedTtftMs());
                pm.put("ttft_cached_ms", p.cachedTtftMs());
                out.put("prefix_cache", pm);
            }
            try {
                System.out.println(new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(out));
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new UncheckedIOException(e);
            }
            return;
        }
        System.out.printf("model    %s (%s, %s weights)%n", model, c.architecture(), transformer.weights().weightType());
        System.out.printf("setup    %d thread(s), %s, KV %s, %d reps after %d warm-up%n", threadCount, Simd.describe(),
                dtype, reps, warmup);
        for (KernelTuner.Choice k : transformer.kernelChoices()) {
            System.out.printf("kernels  %s%n", k.describe());
        }
        for (Run r : runs) {
            System.out.printf("prefill  %5d tokens  median %9.1f tok/s  (min %.1f, max %.1f)%n", promptTokens,
                    r.prefill().median(), r.prefill().min(), r.prefill().max());
            System.out.printf("decode   %5d tokens  median %9.1f tok/s  (min %.1f, max %.1f), %.2f GB/s of weights%n",
                    genTokens, r.decode().median(), r.decode().min(), r.decode().max(),
                    r.decode().median() * decodeBytes / 1e9);
        }
        if (bandwidth != null) {
            System.out.printf("memory   read %.2f GB/s (min %.2f, max %.2f; %d MiB, %d thread(s)); decode reads %.0f%% of it%n",
                    bandwidth.median() / 1e9, bandwidth.min() / 1e9, bandwidth.max() / 1e9,
                    bandwidth.bufferBytes() >> 20, bandwidth.threads(),
                    100 * first.decode().median() * decodeBytes / bandwidth.median());
        }
        if (serving != null) {
            for (ServingBench.LevelResult r : serving.levels()) {
                System.out.printf("serving  concurrency %3d  decode %8.1f tok/s (aggregate)  prompt %8.1f tok/s  ttft %8.1f ms%n",
                        r.concurrency(), r.decodeTokensPerSecond().median(), r.prefillTokensPerSecond().median(),
                        r.ttftMs().median());
            }
            ServingBench.PrefixResult p = serving.prefix();
            if (p != null) {
                System.out.printf("ttft     %d-token prompt: uncached %.1f ms, %d tokens cached %.1f ms (%.1fx sooner)%n",
                        p.promptTokens(), p.uncachedTtftMs().median(), p.cachedTokens(), p.cachedTtftMs().median(),
                        p.speedup());
            }
        }
    }

    private static List<Map<String, Object>> servingRuns(Serving serving) {
        List<Map<String, Object>> list = new ArrayList<>();
        for (ServingBench.LevelResult r : serving.levels()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("concurrency", r.concurrency());
            m.put("decode_tokens_per_second", r.decodeTokensPerSecond().median());
            m.put("prefill_tokens_per_second", r.prefillTokensPerSecond().median());
            m.put("ttft_ms", r.ttftMs().median());
            m.put("decode", r.decodeTokensPerSecond());
            m.put("prefill", r.prefillTokensPerSecond());
            m.put("ttft", r.ttftMs());
            list.add(m);
        }
        return list;
    }
}
