package dev.tandem.engine.loader;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.ModelFormatException;
import dev.tandem.core.TandemException;
import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufWriter;
import dev.tandem.engine.gguf.Quantizer;
import dev.tandem.engine.gguf.TensorSink;
import dev.tandem.engine.gguf.TensorSpec;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Converts a Hugging Face model directory (config.json, *.safetensors, tokenizer.json,
 * tokenizer_config.json) into a GGUF file with llama.cpp's tensor names and metadata keys, so
 * everything downstream reads one format.
 *
 * <h2>Design</h2>
 * Tensor names map as llama.cpp's converter maps them ({@code model.layers.N.self_attn.q_proj}
 * to {@code blk.N.attn_q}, ...); shapes reverse from row-major {@code [out, in]} to ggml's
 * {@code [in, out]} with the bytes unchanged. 2-D weights keep their F32/F16/BF16 type (or take
 * the requested one), 1-D tensors become F32. Llama 3 RoPE scaling becomes the
 * {@code rope_freqs.weight} tensor.
 * <p><b>RoPE permutation.</b> Hugging Face's Llama code rotates dimension {@code i} with
 * {@code i + headDim/2} ("rotate half"); GGUF's llama architecture rotates adjacent pairs
 * {@code (2i, 2i+1)}. llama.cpp's converter therefore reorders the rows of every head of
 * {@code q_proj} (over {@code heads}) and {@code k_proj} (over {@code kvHeads}): GGUF row
 * {@code h*hd + 2i + half} is HF row {@code h*hd + half*hd/2 + i}. Qwen2 uses NEOX-style RoPE in
 * llama.cpp and is not permuted.
 * <p>Results live in {@code <cache>/converted/<key>.gguf}, where the key hashes the directory's
 * real path and each model file's name, size and modification time: an unchanged source is
 * converted once. Files appear atomically ({@link GgufWriter}).
 *
 * <p>Thread ownership: stateless; concurrent conversions of one directory each write their own
 * temporary file and the last atomic move wins.
 */
public final class HfConverter {
    /** Bump when the converter's output changes, so older conversions are not reused. */
    static final String FORMAT_VERSION = "tandem-hf-gguf-1";
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");
    /** Per-layer Hugging Face names and their GGUF names. */
    private static final Map<String, String> LAYER_NAMES = Map.ofEntries(
            Map.entry("input_layernorm.weight", "attn_norm.weight"),
            Map.entry("self_attn.q_proj.weight", "attn_q.weight"),
            Map.entry("self_attn.k_proj.weight", "attn_k.weight"),
            Map.entry("self_attn.v_proj.weight", "attn_v.weight"),
            Map.entry("self_attn.q_proj.bias", "attn_q.bias"),
            Map.entry("self_attn.k_proj.bias", "attn_k.bias"),
            Map.entry("self_attn.v_proj.bias", "attn_v.bias"),
            Map.entry("self_attn.o_proj.weight", "attn_output.weight"),
            Map.entry("post_attention_layernorm.weight", "ffn_norm.weight"),
            Map.entry("mlp.gate_proj.weight", "ffn_gate.weight"),
            Map.entry("mlp.up_proj.weight", "ffn_up.weight"),
            Map.entry("mlp.down_proj.weight", "ffn_down.weight"));
    private static final List<String> REQUIRED_LAYER_NAMES = List.of("input_layernorm.weight",
            "self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
            "post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight");

    private final Path convertedDir;
    private final PrintStream progress;

    /** @param convertedDir where converted files are kept; @param progress where progress is printed, or null */
    public HfConverter(Path convertedDir, PrintStream progress) {
        this.convertedDir = convertedDir;
        this.progress = progress;
    }

    /** The GGUF conversion of {@code dir}, made now or reused from an earlier run. */
    public Path convert(Path dir) {
        Path out = convertedDir.resolve(sourceKey(dir) + ".gguf");
        if (Files.isRegularFile(out)) {
            return out;
        }
        long startNs = System.nanoTime();
        convert(dir, out, null, progress == null ? null : (done, total) -> progress.printf(
                "\rconvert %s: %.1f/%.1f MB", dir.getFileName(), done / 1e6, total / 1e6));
        if (progress != null) {
            progress.printf(" in %.1f s -> %s%n", (System.nanoTime() - startNs) / 1e9, out);
        }
        return out;
    }

    /**
     * Converts {@code dir} into {@code out}. {@code weightType} (null: keep each tensor's
     * F32/F16/BF16 type) is the type of the 2-D weights; a row length it cannot hold falls back to F16.
     */
    public static void convert(Path dir, Path out, GgmlType weightType, GgufWriter.Progress progress) {
        if (weightType != null && !Quantizer.supports(weightType)) {
            throw new ModelFormatException("cannot convert to " + weightType + " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)");
        }
        HfConfig config = HfConfig.read(dir.resolve("config.json"));
        if (!Files.isRegularFile(dir.resolve("tokenizer.json"))) {
            throw new ModelFormatException(dir + " has config.json but no tokenizer.json");
        }
        HfTokenizer tokenizer = HfTokenizer.read(dir, config);
        try (Safetensors weights = Safetensors.open(safetensorsFiles(dir))) {
            Plan plan = plan(dir, config, weights, weightType);
            GgufWriter w = metadata(dir, config, plan.fileType());
            tokenizer.writeTo(w);
            for (Planned p : plan.tensors()) {
                w.addTensor(p.ggufName(), p.type(), p.ggufDims());
            }
            Map<String, Planned> byName = new LinkedHashMap<>();
            plan.tensors().forEach(p -> byName.put(p.ggufName(), p));
            w.write(out, (spec, sink) -> writeTensor(byName.get(spec.name()), spec, sink, config), progress);
        }
    }

    /**
     * One output tensor: its source (a safetensors tensor, or values made here such as
     * {@code rope_freqs}), its stored type and ggml dims, and the head count its rows are
     * permuted over (0: none).
     */
    private static final class Planned {
        private final String ggufName;
        private final Safetensors.Tensor source;
        private final float[] generated;
        private final GgmlType type;
        private final long[] ggufDims;
        private final int permuteHeads;

        Planned(String ggufName, Safetensors.Tensor source, float[] generated, GgmlType type, long[] ggufDims,
                int permuteHeads) {
            this.ggufName = ggufName;
            this.source = source;
            this.generated = generated;
            this.type = type;
            this.ggufDims = ggufDims;
            this.permuteHeads = permuteHeads;
        }

        String ggufName() {
            return ggufName;
        }

        Safetensors.Tensor source() {
            return source;
        }

        float[] generated() {
            return generated;
        }

        GgmlType type() {
            return type;
        }

        long[] ggufDims() {
            return ggufDims;
        }

        int permuteHeads() {
            return permuteHeads;
        }
    }

    private record Plan(List<Planned> tensors, int fileType) {
    }

    private static Plan plan(Path dir, HfConfig config, Safetensors weights, GgmlType weightType) {
        Map<String, Planned> planned = new LinkedHashMap<>();
        if (config.llama3RopeScaling() != null) {
            float[] factors = config.llama3RopeScaling().factors(config.headDim(),
                    config.ropeTheta() == null ? 10000f : config.ropeTheta().floatValue());
            planned.put("rope_freqs.weight", new Planned("rope_freqs.weight", null, factors, GgmlType.F32,
                    new long[] {factors.length}, 0));
        }
        GgmlType majority = null;
        for (Safetensors.Tensor t : weights.tensors().values()) {
            String ggufName = ggufName(t.name(), config);
            if (ggufName == null) {
                continue;
            }
            if (!t.dtype().equals("F32") && !t.dtype().equals("F16") && !t.dtype().equals("BF16")) {
                throw new ModelFormatException(t.file() + ": tensor " + t.name() + " has dtype " + t.dtype()
                        + " (supported: F32, F16, BF16)");
            }
            long[] shape = t.shape();
            checkShape(t, ggufName, config);
            long[] dims = new long[shape.length];
            for (int i = 0; i < shape.length; i++) {
                dims[i] = shape[shape.length - 1 - i];
            }
            GgmlType type = GgmlType.F32;
            if (shape.length == 2) {
                type = weightType != null ? weightType : GgmlType.valueOf(t.dtype());
                if (dims[0] % type.blockSize() != 0) {
                    type = GgmlType.F16;
                }
                if (majority == null) {
                    majority = type;
                }
            }
            int permuteHeads = 0;
            if (config.permutesQk() && ggufName.matches("blk\\.\\d+\\.attn_q\\.(weight|bias)")) {
                permuteHeads = config.heads();
            } else if (config.permutesQk() && ggufName.matches("blk\\.\\d+\\.attn_k\\.(weight|bias)")) {
                permuteHeads = config.kvHeads();
            }
            planned.put(ggufName, new Planned(ggufName, t, null, type, dims, permuteHeads));
        }
        requirePresent(dir, config, weights);
        return new Plan(List.copyOf(planned.values()), SyntheticModel.fileType(majority == null ? GgmlType.F32 : majority));
    }

    /** The GGUF name of a Hugging Face tensor; null for tensors llama.cpp drops (rotary caches). */
    static String ggufName(String hfName, HfConfig config) {
        switch (hfName) {
            case "model.embed_tokens.weight":
                return "token_embd.weight";
            case "model.norm.weight":
                return "output_norm.weight";
            case "lm_head.weight":
                return "output.weight";
            default:
                break;
        }
        Matcher m = LAYER.matcher(hfName);
        if (m.matches()) {
            int layer = Integer.parseInt(m.group(1));
            if (m.group(2).equals("self_attn.rotary_emb.inv_freq")) {
                return null;
            }
            String name = LAYER_NAMES.get(m.group(2));
            if (name != null && layer < config.layers()) {
                return "blk." + layer + "." + name;
            }
        }
        throw new ModelFormatException("tensor " + hfName + " has no GGUF name for " + config.hfArchitecture());
    }

    private static void checkShape(Safetensors.Tensor t, String ggufName, HfConfig c) {
        long q = (long) c.heads() * c.headDim();
        long kv = (long) c.kvHeads() * c.headDim();
        String role = ggufName.replaceFirst("^blk\\.\\d+\\.", "");
        long[] expected = switch (role) {
            case "token_embd.weight", "output.weight" -> new long[] {c.vocabSize(), c.hiddenSize()};
            case "output_norm.weight", "attn_norm.weight", "ffn_norm.weight" -> new long[] {c.hiddenSize()};
            case "attn_q.weight" -> new long[] {q, c.hiddenSize()};
            case "attn_k.weight", "attn_v.weight" -> new long[] {kv, c.hiddenSize()};
            case "attn_q.bias" -> new long[] {q};
            case "attn_k.bias", "attn_v.bias" -> new long[] {kv};
            case "attn_output.weight" -> new long[] {c.hiddenSize(), q};
            case "ffn_gate.weight", "ffn_up.weight" -> new long[] {c.intermediateSize(), c.hiddenSize()};
            case "ffn_down.weight" -> new long[] {c.hiddenSize(), c.intermediateSize()};
            default -> throw new IllegalStateException(role);
        };
        if (!java.util.Arrays.equals(t.shape(), expected)) {
            throw new ModelFormatException(t.file() + ": tensor " + t.name() + " has shape "
                    + java.util.Arrays.toString(t.shape()) + ", config.json implies " + java.util.Arrays.toString(expected));
        }
    }

    private static void requirePresent(Path dir, HfConfig config, Safetensors weights) {
        List<String> missing = new ArrayList<>();
        for (String name : List.of("model.embed_tokens.weight", "model.norm.weight")) {
            if (weights.tensorOrNull(name) == null) {
                missing.add(name);
            }
        }
        for (int i = 0; i < config.layers(); i++) {
            for (String suffix : REQUIRED_LAYER_NAMES) {
                if (weights.tensorOrNull("model.layers." + i + "." + suffix) == null) {
                    missing.add("model.layers." + i + "." + suffix);
                }
            }
        }
        if (!missing.isEmpty()) {
            throw new ModelFormatException(dir + ": missing tensors " + (missing.size() > 5
                    ? String.join(", ", missing.subList(0, 5)) + " and " + (missing.size() - 5) + " more"
                    : String.join(", ", missing)));
        }
    }

    private static GgufWriter metadata(Path dir, HfConfig c, int fileType) {
        GgufWriter w = new GgufWriter();
        String arch = c.architecture();
        w.putString("general.architecture", arch);
        w.putString("general.type", "model");
        w.putString("general.name", dir.toAbsolutePath().normalize().getFileName().toString());
        w.putU32("general.file_type", fileType);
        if (fileType == 2 || fileType == 7) {
            w.putU32("general.quantization_version", 2);
        }
        w.putU32(arch + ".vocab_size", c.vocabSize());
        w.putU32(arch + ".context_length", c.contextLength());
        w.putU32(arch + ".embedding_length", c.hiddenSize());
        w.putU32(arch + ".block_count", c.layers());
        w.putU32(arch + ".feed_forward_length", c.intermediateSize());
        w.putU32(arch + ".rope.dimension_count", c.headDim());
        w.putU32(arch + ".attention.head_count", c.heads());
        w.putU32(arch + ".attention.head_count_kv", c.kvHeads());
        if (c.explicitHeadDim()) {
            w.putU32(arch + ".attention.key_length", c.headDim());
            w.putU32(arch + ".attention.value_length", c.headDim());
        }
        w.putF32(arch + ".attention.layer_norm_rms_epsilon", (float) c.rmsEpsilon());
        if (c.ropeTheta() != null) {
            w.putF32(arch + ".rope.freq_base", c.ropeTheta().floatValue());
        }
        if (c.linearRopeFactor() > 0) {
            w.putString(arch + ".rope.scaling.type", "linear");
            w.putF32(arch + ".rope.scaling.factor", (float) c.linearRopeFactor());
        }
        return w;
    }

    private static void writeTensor(Planned p, TensorSpec spec, TensorSink sink, HfConfig config) throws IOException {
        if (p.generated() != null) {
            byte[] bytes = new byte[p.generated().length * Float.BYTES];
            Quantizer.quantize(GgmlType.F32, p.generated(), 0, p.generated().length, bytes, 0);
            sink.write(bytes, 0, bytes.length);
            return;
        }
        Safetensors.Tensor src = p.source();
        GgmlType srcType = GgmlType.valueOf(src.dtype());
        long[] shape = src.shape();
        int rows = (int) shape[0];
        int cols = (int) (src.elementCount() / Math.max(rows, 1));
        if (shape.length == 1) {
            rows = (int) shape[0];
            cols = 1;
        }
        MemorySegment data = src.data();
        if (srcType == p.type() && p.permuteHeads() == 0) {
            sink.write(data);
            return;
        }
        long srcRowBytes = srcType.bytesFor(cols);
        int headDim = p.permuteHeads() == 0 ? 0 : rows / p.permuteHeads();
        if (p.permuteHeads() != 0 && (rows % p.permuteHeads() != 0 || headDim % 2 != 0)) {
            throw new ModelFormatException(src.file() + ": cannot permute " + src.name() + " (" + rows
                    + " rows) over " + p.permuteHeads() + " heads");
        }
        // 1-D tensors (biases) go through in one piece of `rows` elements, row by row otherwise.
        if (shape.length == 1) {
            float[] values = new float[rows];
            float[] permuted = new float[rows];
            Quantizer.dequantize(srcType, data, 0, values, 0, rows);
            for (int r = 0; r < rows; r++) {
                permuted[r] = values[sourceRow(r, headDim)];
            }
            byte[] bytes = new byte[(int) p.type().bytesFor(rows)];
            Quantizer.quantize(p.type(), permuted, 0, rows, bytes, 0);
            sink.write(bytes, 0, bytes.length);
            return;
        }
        float[] row = new float[cols];
        byte[] encoded = new byte[(int) p.type().bytesFor(cols)];
        for (int r = 0; r < rows; r++) {
            long from = (long) sourceRow(r, headDim) * srcRowBytes;
            if (srcType == p.type()) {
                sink.write(data.asSlice(from, srcRowBytes));
            } else {
                Quantizer.dequantize(srcType, data, from, row, 0, cols);
                Quantizer.quantize(p.type(), row, 0, cols, encoded, 0);
                sink.write(encoded, 0, encoded.length);
            }
        }
    }

    /**
     * The Hugging Face row that becomes GGUF row {@code r} under the RoPE permutation over heads of
     * {@code headDim} rows ({@code headDim} 0: no permutation).
     */
    static int sourceRow(int r, int headDim) {
        if (headDim == 0) {
            return r;
        }
        int head = r / headDim;
        int j = r % headDim;
        return head * headDim + (j % 2) * (headDim / 2) + j / 2;
    }

    /** The safetensors files: those the index names if there is one, else every *.safetensors but consolidated ones. */
    static List<Path> safetensorsFiles(Path dir) {
        Path index = dir.resolve("model.safetensors.index.json");
        TreeSet<String> names = new TreeSet<>();
        if (Files.isRegularFile(index)) {
            JsonNode map = Json.read(index).path("weight_map");
            map.forEach(v -> names.add(v.asText()));
            if (names.isEmpty()) {
                throw new ModelFormatException(index + " has no weight_map");
            }
        } else {
            try (Stream<Path> files = Files.list(dir)) {
                files.map(p -> p.getFileName().toString())
                        .filter(n -> n.endsWith(".safetensors") && !n.startsWith("consolidated"))
                        .forEach(names::add);
            } catch (IOException e) {
                throw new ModelFormatException("cannot list " + dir + ": " + e.getMessage(), e);
            }
        }
        if (names.isEmpty()) {
            throw new ModelFormatException(dir + " has config.json but no *.safetensors weights");
        }
        return names.stream().map(dir::resolve).toList();
    }

    /** Hash of what the conversion depends on: format version, real path, model files' names, sizes and times. */
    static String sourceKey(Path dir) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            digest.update((FORMAT_VERSION + "\n" + dir.toRealPath() + "\n").getBytes(StandardCharsets.UTF_8));
            List<Path> files;
            try (Stream<Path> s = Files.list(dir)) {
                files = s.filter(p -> {
                    String n = p.getFileName().toString();
                    return n.endsWith(".json") || n.endsWith(".safetensors") || n.endsWith(".jinja");
                }).sorted().toList();
            }
            for (Path f : files) {
                String line = f.getFileName() + " " + Files.size(f) + " " + Files.getLastModifiedTime(f).toMillis() + "\n";
                digest.update(line.getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(digest.digest()).substring(0, 32);
        } catch (IOException e) {
            throw new TandemException("cannot read model directory " + dir + ": " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }
}
