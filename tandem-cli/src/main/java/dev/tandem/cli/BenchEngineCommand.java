package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.tandem.core.ConfigException;
import dev.tandem.core.KvDtype;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.model.ForwardTimer;
import dev.tandem.engine.model.ModelConfig;
import dev.tandem.engine.model.Transformer;
import dev.tandem.engine.ops.KernelPool;
import dev.tandem.engine.ops.Simd;
import java.io.PrintStream;
import java.io.UncheckedIOException;
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
 * side by side. Each run is one concurrency level; today that is one sequence (concurrency 1),
 * the JSON already lists runs so that batched levels can be added.
 */
@Command(name = "engine", mixinStandardHelpOptions = true,
        description = {"Measure the engine's prefill and decode speed on a model (median of several repetitions",
            "after a warm-up). Definitions match llama.cpp's llama-bench pp and tg tests."})
final class BenchEngineCommand implements Runnable {
    @Option(names = "--model", required = true, description = "path of a .gguf model file")
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

    @Option(names = "--kv-dtype", defaultValue = "f16",
            description = "KV-cache element type, f16 (as llama.cpp) or f32 (default: ${DEFAULT-VALUE})")
    String kvDtype;

    @Option(names = "--block-size", defaultValue = "16", description = "KV block size, tokens (default: ${DEFAULT-VALUE})")
    int blockSize;

    @Option(names = "--json", description = "print one JSON object instead of a table")
    boolean json;

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
            report(transformer, threadCount, dtype, runs);
        }
    }

    private void validate() {
        if (promptTokens < 1 || genTokens < 1 || reps < 1 || warmup < 0 || blockSize < 1) {
            throw new ConfigException("--prompt-tokens, --gen-tokens, --reps and --block-size must be positive and "
                    + "--warmup not negative (got " + promptTokens + ", " + genTokens + ", " + reps + ", " + blockSize
                    + ", " + warmup + ")");
        }
        if (threads != null && threads < 1) {
            throw new ConfigException("--threads must be at least 1, got " + threads);
        }
    }

    /** Concurrency 1: one sequence's prefill and greedy decode. */
    private Run measureOne(ForwardTimer timer, ModelConfig c, int bos, PrintStream err) {
        int[] prompt = ForwardTimer.promptTokens(promptTokens, c.vocabSize(), bos, 1234);
        double[] prefill = new double[reps];
        double[] decode = new double[reps];
        for (int i = 0; i < warmup + reps; i++) {
            boolean counted = i >= warmup;
            String label = counted ? "rep " + (i - warmup + 1) + "/" + reps : "warm-up " + (i + 1) + "/" + warmup;
            double pp = promptTokens / timer.prefillSeconds(prompt);
            double tg = genTokens / timer.decodeSeconds(bos, genTokens);
            err.printf("  %s: prefill %.1f tok/s, decode %.1f tok/s%n", label, pp, tg);
            if (counted) {
                prefill[i - warmup] = pp;
                decode[i - warmup] = tg;
            }
        }
        return new Run(1, Stats.of(prefill), Stats.of(decode));
    }

    private void report(Transformer transformer, int threadCount, KvDtype dtype, List<Run> runs) {
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
            out.put("kv_dtype", dtype.name());
            out.put("prompt_tokens", promptTokens);
            out.put("gen_tokens", genTokens);
            out.put("reps", reps);
            out.put("decode_bytes_per_token", decodeBytes);
            out.put("prefill_tokens_per_second", first.prefill().median());
            out.put("decode_tokens_per_second", first.decode().median());
            out.put("decode_weight_bytes_per_second", first.decode().median() * decodeBytes);
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
            out.put("runs", runList);
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
        for (Run r : runs) {
            System.out.printf("prefill  %5d tokens  median %9.1f tok/s  (min %.1f, max %.1f)%n", promptTokens,
                    r.prefill().median(), r.prefill().min(), r.prefill().max());
            System.out.printf("decode   %5d tokens  median %9.1f tok/s  (min %.1f, max %.1f), %.2f GB/s of weights%n",
                    genTokens, r.decode().median(), r.decode().min(), r.decode().max(),
                    r.decode().median() * decodeBytes / 1e9);
        }
    }
}
