package dev.tandem.cli;

import dev.tandem.core.ConfigException;
import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.loader.ModelShape;
import dev.tandem.engine.loader.SyntheticModel;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code tandem model synth}: a GGUF file of a real model's shape with seeded random weights. */
@Command(name = "synth", mixinStandardHelpOptions = true,
        description = {"Write a GGUF model of a known shape with seeded random weights and a generated",
            "SentencePiece-style vocabulary, for speed measurements without downloads.",
            "llama.cpp loads these files too."},
        footer = {"", "Shapes:",
            "  tiny            llama, dim 64, 2 layers, 4 heads / 2 kv, ffn 192, vocab 512",
            "  stories15m      llama, dim 288, 6 layers, 6 heads / 6 kv, ffn 768, vocab 32000",
            "  tinyllama-1.1b  llama, dim 2048, 22 layers, 32 heads / 4 kv, ffn 5632, vocab 32000",
            "  llama-3.2-1b    llama, dim 2048, 16 layers, 32 heads / 8 kv, ffn 8192, vocab 128256,",
            "                  rope base 500000 + llama3 scaling, tied embeddings",
            "  qwen2.5-0.5b    qwen2, dim 896, 24 layers, 14 heads / 2 kv, ffn 4864, vocab 151936,",
            "                  rope base 1e6, q/k/v biases, tied embeddings"})
final class ModelSynthCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Option(names = "--shape", required = true, completionCandidates = ShapeNames.class,
            description = "model shape: ${COMPLETION-CANDIDATES}")
    String shape;

    @Option(names = "--type", defaultValue = "q8_0",
            description = "weight type: q8_0, q4_0, q4_k, q6_k, f16, bf16 or f32 (default: ${DEFAULT-VALUE})")
    String type;

    @Option(names = "--output-type",
            description = {"type of the output projection (of token_embd when tied); default: --type, as",
                "llama-quantize --pure. llama-quantize's own Q4_0 models use q6_k here."})
    String outputType;

    @Option(names = "--out", required = true, description = "the .gguf file to write")
    Path out;

    @Option(names = "--seed", defaultValue = "42", description = "random seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--threads", description = "worker threads (default: the number of cores)")
    Integer threads;

    @Override
    public void run() {
        ModelShape modelShape = ModelShape.named(shape).orElseThrow(() -> new ConfigException(
                "unknown shape " + shape + " (known: " + ModelShape.knownNames() + ")"));
        GgmlType weightType = parseType(type);
        GgmlType outType = outputType == null ? null : parseType(outputType);
        int threadCount = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
        PrintWriter err = spec.commandLine().getErr();
        long startNs = System.nanoTime();
        ProgressLine progress = new ProgressLine(err, "synth " + modelShape.name() + " " + weightType, startNs);
        SyntheticModel.write(modelShape, weightType, outType, seed, out, threadCount, progress);
        progress.finish();
        spec.commandLine().getOut().println(out);
        spec.commandLine().getOut().flush();
    }

    static GgmlType parseType(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "q8_0" -> GgmlType.Q8_0;
            case "q4_0" -> GgmlType.Q4_0;
            case "q4_k" -> GgmlType.Q4_K;
            case "q6_k" -> GgmlType.Q6_K;
            case "f16" -> GgmlType.F16;
            case "bf16" -> GgmlType.BF16;
            case "f32" -> GgmlType.F32;
            default -> throw new ConfigException("unknown type " + name + " (q8_0, q4_0, q4_k, q6_k, f16, bf16, f32)");
        };
    }

    static final class ShapeNames implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return ModelShape.KNOWN.stream().map(ModelShape::name).iterator();
        }
    }
}
