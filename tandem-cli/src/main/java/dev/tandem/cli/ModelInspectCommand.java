package dev.tandem.cli;

import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.gguf.GgufTensor;
import dev.tandem.engine.gguf.Quantizer;
import dev.tandem.engine.loader.ModelResolver;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code tandem model inspect}: a model's architecture, shapes, tensor types, vocabulary and template. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Print a model's architecture, shapes, RoPE settings, vocabulary, chat template and",
            "tensor types. MODEL is anything --model accepts: a .gguf file, a Hugging Face",
            "directory (converted on first use) or a name (default: stories260K)."})
final class ModelInspectCommand implements Runnable {
    private static final int TEMPLATE_LINES = 4;

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL", description = "the model (default: stories260K)")
    String model;

    @Option(names = "--tensors", description = "list every tensor (name, type, dims, bytes)")
    boolean tensors;

    @Option(names = "--metadata", description = "list every metadata key and value")
    boolean metadata;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        ModelResolver.ResolvedModel resolved = ModelResolver.fromSystem().resolve(model);
        try (GgufFile gguf = GgufFile.open(resolved.path())) {
            summary(out, resolved, gguf);
            if (metadata) {
                out.println();
                out.println("metadata:");
                for (Map.Entry<String, Object> e : gguf.metadata().entrySet()) {
                    out.printf("  %-44s %s%n", e.getKey(), brief(e.getValue()));
                }
            }
            if (tensors) {
                out.println();
                out.printf("tensors (%d):%n", gguf.tensors().size());
                for (GgufTensor t : gguf.tensors().values()) {
                    out.printf("  %-36s %-5s %-20s %,14d bytes%n", t.name(), t.type(), Arrays.toString(t.dims()),
                            t.data().byteSize());
                }
            }
        }
        out.flush();
    }

    static void summary(PrintWriter out, ModelResolver.ResolvedModel resolved, GgufFile g) {
        String arch = g.string("general.architecture", "?");
        String p = arch + ".";
        out.printf("file:          %s (%s, GGUF v%d)%n", g.path(), bytes(g.fileBytes()), g.version());
        if (!resolved.origin().equals(resolved.path()) || resolved.source() != ModelResolver.Source.PATH) {
            out.printf("resolved from: %s (%s)%n", resolved.origin(), resolved.source().name().toLowerCase(Locale.ROOT)
                    .replace('_', ' '));
        }
        out.printf("architecture:  %s%s%n", arch, g.has("general.name") ? " (" + g.string("general.name") + ")" : "");
        long embd = g.integer(p + "embedding_length", 0);
        long heads = g.integer(p + "attention.head_count", 0);
        long kvHeads = g.integer(p + "attention.head_count_kv", heads);
        long headDim = g.integer(p + "attention.key_length", heads == 0 ? 0 : embd / heads);
        out.printf("layers:        %d%n", g.integer(p + "block_count", 0));
        out.printf("dims:          embedding %d, feed-forward %d%n", embd, g.integer(p + "feed_forward_length", 0));
        out.printf("heads:         %d query, %d key/value (%s), head dim %d%n", heads, kvHeads,
                kvHeads == heads ? "multi-head" : "grouped, " + (kvHeads == 0 ? "?" : heads / kvHeads) + " per kv head",
                headDim);
        out.printf("context:       %d tokens%n", g.integer(p + "context_length", 0));
        out.printf("rope:          %s%n", rope(g, p, headDim));
        out.printf("norm:          RMS, epsilon %s%n", g.has(p + "attention.layer_norm_rms_epsilon")
                ? String.format(Locale.ROOT, "%.0e", g.real(p + "attention.layer_norm_rms_epsilon", 0)) : "?");
        out.printf("output:        %s%n", g.tensorOrNull("output.weight") == null
                ? "tied to token_embd.weight" : "output.weight " + g.tensor("output.weight").type());
        out.printf("vocab:         %s%n", vocab(g));
        template(out, g);
        out.printf("tensors:       %d, %s in %s (%s parameters)%n", g.tensors().size(), typeHistogram(g),
                bytes(tensorBytes(g)), count(g.tensors().values().stream().mapToLong(GgufTensor::elementCount).sum()));
        out.printf("file type:     %s%n", fileType(g.integer("general.file_type", -1)));
    }

    private static String rope(GgufFile g, String p, long headDim) {
        StringBuilder s = new StringBuilder();
        s.append("base ").append(g.has(p + "rope.freq_base")
                ? String.format(Locale.ROOT, "%.0f", g.real(p + "rope.freq_base", 0)) : "10000 (default)");
        long dims = g.integer(p + "rope.dimension_count", headDim);
        s.append(", ").append(dims).append(dims == headDim ? " dims (all)" : " of " + headDim + " dims");
        String scaling = g.string(p + "rope.scaling.type", null);
        if (scaling != null && !scaling.equals("none")) {
            s.append(", scaling ").append(scaling).append(" x").append(g.real(p + "rope.scaling.factor", 1));
        }
        GgufTensor freqs = g.tensorOrNull("rope_freqs.weight");
        if (freqs != null && Quantizer.supports(freqs.type())) {
            float[] f = Quantizer.dequantize(freqs);
            float min = Float.MAX_VALUE;
            float max = -Float.MAX_VALUE;
            for (float v : f) {
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
            s.append(String.format(Locale.ROOT, ", frequency factors (rope_freqs.weight, %d, %.3g..%.3g: llama3 scaling)",
                    f.length, min, max));
        }
        return s.toString();
    }

    private static String vocab(GgufFile g) {
        String[] tokens = g.strings("tokenizer.ggml.tokens");
        if (tokens == null) {
            return "none (no tokenizer.ggml.tokens)";
        }
        StringBuilder s = new StringBuilder();
        s.append(String.format("%,d tokens, tokenizer %s", tokens.length, g.string("tokenizer.ggml.model", "?")));
        String pre = g.string("tokenizer.ggml.pre", null);
        if (pre != null) {
            s.append(" (pre ").append(pre).append(')');
        }
        String[] merges = g.strings("tokenizer.ggml.merges");
        if (merges != null) {
            s.append(String.format(", %,d merges", merges.length));
        }
        s.append(", bos ").append(token(g, tokens, "tokenizer.ggml.bos_token_id"));
        s.append(", eos ").append(token(g, tokens, "tokenizer.ggml.eos_token_id"));
        if (g.has("tokenizer.ggml.add_bos_token")) {
            s.append(", add_bos ").append(g.bool("tokenizer.ggml.add_bos_token", false));
        }
        return s.toString();
    }

    private static String token(GgufFile g, String[] tokens, String key) {
        if (!g.has(key)) {
            return "-";
        }
        long id = g.integer(key);
        return id >= 0 && id < tokens.length ? id + " " + tokens[(int) id] : String.valueOf(id);
    }

    private static void template(PrintWriter out, GgufFile g) {
        String template = g.string("tokenizer.chat_template", null);
        if (template == null) {
            out.println("chat template: none");
            return;
        }
        String[] lines = template.split("\n", -1);
        out.printf("chat template: %,d chars, %d lines%n", template.length(), lines.length);
        for (int i = 0; i < Math.min(TEMPLATE_LINES, lines.length); i++) {
            String line = lines[i].length() > 100 ? lines[i].substring(0, 97) + "..." : lines[i];
            out.printf("  | %s%n", line);
        }
        if (lines.length > TEMPLATE_LINES) {
            out.println("  | ...");
        }
    }

    static String typeHistogram(GgufFile g) {
        Map<GgmlType, long[]> byType = new EnumMap<>(GgmlType.class);
        for (GgufTensor t : g.tensors().values()) {
            long[] c = byType.computeIfAbsent(t.type(), k -> new long[2]);
            c[0]++;
            c[1] += t.data().byteSize();
        }
        return byType.entrySet().stream()
                .sorted((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1]))
                .map(e -> e.getKey() + " x" + e.getValue()[0] + " (" + bytes(e.getValue()[1]) + ")")
                .collect(Collectors.joining(", "));
    }

    private static long tensorBytes(GgufFile g) {
        return g.tensors().values().stream().mapToLong(t -> t.data().byteSize()).sum();
    }

    private static String fileType(long id) {
        return switch ((int) id) {
            case -1 -> "not given";
            case 0 -> "all F32";
            case 1 -> "mostly F16";
            case 2 -> "mostly Q4_0";
            case 7 -> "mostly Q8_0";
            case 15 -> "mostly Q4_K_M";
            case 18 -> "mostly Q6_K";
            case 32 -> "mostly BF16";
            default -> "llama.cpp file type " + id;
        };
    }

    static String bytes(long n) {
        if (n >= 1L << 30) {
            return String.format(Locale.ROOT, "%.2f GiB", n / (double) (1L << 30));
        }
        if (n >= 1L << 20) {
            return String.format(Locale.ROOT, "%.1f MiB", n / (double) (1L << 20));
        }
        if (n >= 1L << 10) {
            return String.format(Locale.ROOT, "%.1f KiB", n / 1024.0);
        }
        return n + " B";
    }

    private static String count(long n) {
        if (n >= 1_000_000_000L) {
            return String.format(Locale.ROOT, "%.2fB", n / 1e9);
        }
        if (n >= 1_000_000L) {
            return String.format(Locale.ROOT, "%.1fM", n / 1e6);
        }
        return String.format(Locale.ROOT, "%,d", n);
    }

    static String brief(Object v) {
        return switch (v) {
            case String s -> s.length() > 120 ? '"' + s.substring(0, 117).replace("\n", "\\n") + "...\" ("
                    + s.length() + " chars)" : '"' + s.replace("\n", "\\n") + '"';
            case String[] a -> "[" + a.length + " strings: " + String.join(", ",
                    Arrays.copyOf(a, Math.min(5, a.length))) + (a.length > 5 ? ", ...]" : "]");
            case long[] a -> a.length > 8 ? "[" + a.length + " ints]" : Arrays.toString(a);
            case double[] a -> a.length > 8 ? "[" + a.length + " floats]" : Arrays.toString(a);
            case boolean[] a -> a.length > 8 ? "[" + a.length + " bools]" : Arrays.toString(a);
            default -> String.valueOf(v);
        };
    }
}
