package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.RequestException;
import dev.tandem.core.SamplingParams;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.tokenizer.StreamDecoder;
import dev.tandem.engine.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code tandem generate}: one prompt through the serving engine ({@link LlmEngine}: paged KV
 * cache, scheduler, sampler), text streamed to stdout, or one JSON object with {@code --json}.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = {"Continue a prompt with a model through the serving engine.",
            "Streams the text to stdout; with --json prints one object: prompt_tokens, tokens, text,",
            "finish_reason and timings (prefill and decode tokens per second)."})
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", description = "a .gguf file, or a name in TANDEM_MODEL_PATH (default: stories260K)")
    String model;

    @Option(names = "--prompt", required = true, description = "the prompt text (BOS is added as the model says)")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "64", description = "most tokens to generate (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 for greedy (default: ${DEFAULT-VALUE})")
    float temperature;

    @Option(names = "--seed", description = "random seed for sampling (default: random)")
    Long seed;

    @Option(names = "--top-k", defaultValue = "0", description = "keep the k most likely tokens; 0 disables")
    int topK;

    @Option(names = "--top-p", defaultValue = "1", description = "nucleus sampling mass; 1 disables")
    float topP;

    @Option(names = "--min-p", defaultValue = "0", description = "drop tokens below min-p times the best; 0 disables")
    float minP;

    @Option(names = "--repetition-penalty", defaultValue = "1", description = "llama.cpp repeat penalty; 1 disables")
    float repetitionPenalty;

    @Option(names = "--ignore-eos", description = "keep generating past end-of-generation tokens")
    boolean ignoreEos;

    @Option(names = "--json", description = "print one JSON object instead of streaming text")
    boolean json;

    @Mixin
    EngineOptions engineOptions;

    @Override
    public Integer call() {
        if (prompt.isEmpty()) {
            throw new RequestException(RequestException.Kind.INVALID, "the prompt is empty", "prompt", null);
        }
        Path modelPath = ModelPaths.resolve(model);
        PrintWriter out = spec.commandLine().getOut();
        try (GgufFile gguf = GgufFile.open(modelPath)) {
            Tokenizer tokenizer = Tokenizer.fromGguf(gguf);
            int[] promptIds = tokenizer.encode(prompt, true, true);
            SamplingParams sampling = new SamplingParams(temperature, topK, topP, minP, seed, repetitionPenalty, 0f, 0f);
            GenerateRequest request = new GenerateRequest("generate", promptIds, sampling, maxTokens, null, ignoreEos, -1);
            int blockSize = engineOptions.config(0).blockSizeTokens();
            EngineConfig config = engineOptions.config((promptIds.length + maxTokens + blockSize - 1) / blockSize);
            Recorder recorder = new Recorder(json ? null : tokenizer.newStreamDecoder(true), out);
            long startNs;
            try (LlmEngine engine = LlmEngine.open(modelPath, config, engineOptions.threads())) {
                startNs = System.nanoTime();
                engine.submit(request, recorder);
                recorder.await();
            }
            if (json) {
                printJson(out, promptIds, recorder, tokenizer, startNs);
            } else {
                out.println();
                out.flush();
            }
        }
        return 0;
    }

    private static void printJson(PrintWriter out, int[] promptIds, Recorder r, Tokenizer tokenizer, long startNs) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode root = mapper.createObjectNode();
        ArrayNode p = root.putArray("prompt_tokens");
        for (int id : promptIds) {
            p.add(id);
        }
        ArrayNode t = root.putArray("tokens");
        int[] ids = r.ids();
        for (int id : ids) {
            t.add(id);
        }
        root.put("text", tokenizer.decode(ids));
        root.put("finish_reason", r.reason.openAiName());
        ObjectNode timings = root.putObject("timings");
        int n = ids.length;
        double prefillS = n == 0 ? 0 : (r.times.getFirst() - startNs) / 1e9;
        double decodeS = n < 2 ? 0 : (r.times.getLast() - r.times.getFirst()) / 1e9;
        timings.put("prompt_tokens", promptIds.length);
        timings.put("prefill_ms", prefillS * 1e3);
        timings.put("prefill_tokens_per_second", prefillS > 0 ? promptIds.length / prefillS : 0);
        timings.put("decode_tokens", Math.max(0, n - 1));
        timings.put("decode_ms", decodeS * 1e3);
        timings.put("decode_tokens_per_second", decodeS > 0 ? (n - 1) / decodeS : 0);
        out.println(root);
        out.flush();
    }

    /** Collects the stream on the engine thread; prints text as it comes unless JSON is wanted. */
    private static final class Recorder implements TokenSink {
        private final StreamDecoder decoder;
        private final PrintWriter out;
        private final List<Integer> tokens = new ArrayList<>();
        private final List<Long> times = new ArrayList<>();
        private final CompletableFuture<Usage> done = new CompletableFuture<>();
        private FinishReason reason;

        Recorder(StreamDecoder decoder, PrintWriter out) {
            this.decoder = decoder;
            this.out = out;
        }

        @Override
        public synchronized void onToken(GeneratedToken token) {
            times.add(System.nanoTime());
            tokens.add(token.tokenId());
            if (decoder != null) {
                out.print(decoder.next(token.tokenId()));
                out.flush();
            }
        }

        @Override
        public synchronized void onFinish(FinishReason finishReason, Usage usage) {
            reason = finishReason;
            if (decoder != null) {
                out.print(decoder.finish());
                out.flush();
            }
            done.complete(usage);
        }

        @Override
        public void onError(TandemException error) {
            done.completeExceptionally(error);
        }

        void await() {
            try {
                done.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new RequestException(RequestException.Kind.CANCELLED, "interrupted");
            } catch (ExecutionException e) {
                if (e.getCause() instanceof TandemException t) {
                    throw t;
                }
                throw new IllegalStateException("generation failed", e.getCause());
            }
        }

        synchronized int[] ids() {
            return tokens.stream().mapToInt(Integer::intValue).toArray();
        }
    }
}
