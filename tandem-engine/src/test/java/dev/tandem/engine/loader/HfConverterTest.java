package dev.tandem.engine.loader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.gguf.GgufTensor;
import dev.tandem.engine.gguf.Quantizer;
import java.io.IOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfConverterTest {
    private static final Path MODELS = Path.of(System.getProperty("tandem.test.models", "../../shared/models"));

    @TempDir
    Path dir;

    /** stories260K as a Hugging Face directory: q/k unpermuted, tokenizer.json with byte fallback. */
    private Path storiesAsHf(String dtype) throws IOException {
        Path hf = Files.createDirectories(dir.resolve("stories260K-hf-" + dtype));
        try (GgufFile g = GgufFile.open(MODELS.resolve("stories260K.gguf"))) {
            HfFixture.writeSafetensors(hf.resolve("model.safetensors"), HfFixture.tensorsFromGguf(g, dtype, true));
            HfFixture.write(hf.resolve("config.json"), HfFixture.config(g, "LlamaForCausalLM"));
            HfFixture.write(hf.resolve("tokenizer.json"), HfFixture.sentencePieceTokenizer(g));
            ObjectNode tc = Json.MAPPER.createObjectNode();
            tc.put("bos_token", "<s>").put("eos_token", "</s>").put("unk_token", "<unk>");
            tc.put("add_bos_token", true).put("add_eos_token", false);
            tc.put("chat_template", "{% for m in messages %}{{ m['content'] }}\n{% endfor %}");
            HfFixture.write(hf.resolve("tokenizer_config.json"), tc);
        }
        return hf;
    }

    @Test
    void convert_stories260KRoundTrip_tensorsAndVocabEqualOriginalExactly() throws IOException {
        Path out = dir.resolve("converted.gguf");
        HfConverter.convert(storiesAsHf("F32"), out, null, null);
        try (GgufFile original = GgufFile.open(MODELS.resolve("stories260K.gguf"));
             GgufFile converted = GgufFile.open(out)) {
            assertThat(converted.tensors().keySet()).containsExactlyInAnyOrderElementsOf(original.tensors().keySet());
            for (GgufTensor t : original.tensors().values()) {
                GgufTensor c = converted.tensor(t.name());
                assertThat(c.type()).as(t.name()).isEqualTo(GgmlType.F32);
                assertThat(c.dims()).as(t.name()).isEqualTo(t.dims());
                assertThat(c.data().mismatch(t.data())).as(t.name() + " bytes").isEqualTo(-1);
            }
            for (String key : List.of("llama.context_length", "llama.embedding_length", "llama.feed_forward_length",
                    "llama.attention.head_count", "llama.attention.head_count_kv", "llama.block_count",
                    "llama.rope.dimension_count", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                    "tokenizer.ggml.unknown_token_id")) {
                assertThat(converted.integer(key)).as(key).isEqualTo(original.integer(key));
            }
            assertThat(converted.real("llama.attention.layer_norm_rms_epsilon", 0))
                    .isEqualTo(original.real("llama.attention.layer_norm_rms_epsilon", 0));
            assertThat(converted.has("llama.rope.freq_base")).isFalse();
            assertThat(converted.string("tokenizer.ggml.model")).isEqualTo("llama");
            assertThat(converted.strings("tokenizer.ggml.tokens")).containsExactly(original.strings("tokenizer.ggml.tokens"));
            assertThat(converted.integers("tokenizer.ggml.token_type"))
                    .containsExactly(original.integers("tokenizer.ggml.token_type"));
            assertThat(converted.reals("tokenizer.ggml.scores")).containsExactly(original.reals("tokenizer.ggml.scores"));
            assertThat(converted.bool("tokenizer.ggml.add_bos_token", false)).isTrue();
            assertThat(converted.string("tokenizer.chat_template")).startsWith("{% for m in messages %}");
            assertThat(converted.integer("general.file_type")).isZero();
        }
    }

    @Test
    void convert_withoutPermutation_wouldDifferSoThePermutationIsExercised() throws IOException {
        try (GgufFile g = GgufFile.open(MODELS.resolve("stories260K.gguf"))) {
            float[] q = Quantizer.dequantize(g.tensor("blk.0.attn_q.weight"));
            float[] hf = HfFixture.unpermute(q, 64, 64, 8);
            assertThat(hf).isNotEqualTo(q);
            // Row 1 of head 0 in GGUF order (pair element 1 of dimension 0) is HF row headDim/2 = 4.
            assertThat(java.util.Arrays.copyOfRange(hf, 4 * 64, 5 * 64)).containsExactly(java.util.Arrays.copyOfRange(q, 64, 128));
        }
    }

    @Test
    void convert_f16Source_keepsF16Bits() throws IOException {
        Path out = dir.resolve("f16.gguf");
        HfConverter.convert(storiesAsHf("F16"), out, null, null);
        try (GgufFile original = GgufFile.open(MODELS.resolve("stories260K.gguf"));
             GgufFile converted = GgufFile.open(out)) {
            GgufTensor q = converted.tensor("blk.2.attn_q.weight");
            assertThat(q.type()).isEqualTo(GgmlType.F16);
            assertThat(converted.tensor("blk.2.attn_norm.weight").type()).isEqualTo(GgmlType.F32);
            float[] expected = Quantizer.dequantize(original.tensor("blk.2.attn_q.weight"));
            float[] actual = Quantizer.dequantize(q);
            for (int i = 0; i < expected.length; i++) {
                expected[i] = Float.float16ToFloat(Float.floatToFloat16(expected[i]));
            }
            assertThat(actual).containsExactly(expected);
            assertThat(converted.integer("general.file_type")).isEqualTo(1);
        }
    }

    @Test
    void convert_toQ8_0_quantisesMatricesAndFallsBackForOddRows() throws IOException {
        Path out = dir.resolve("q8.gguf");
        HfConverter.convert(storiesAsHf("F32"), out, GgmlType.Q8_0, null);
        try (GgufFile original = GgufFile.open(MODELS.resolve("stories260K.gguf"));
             GgufFile converted = GgufFile.open(out)) {
            GgufTensor up = converted.tensor("blk.0.ffn_up.weight");
            assertThat(up.type()).isEqualTo(GgmlType.Q8_0);
            float[] src = Quantizer.dequantize(original.tensor("blk.0.ffn_up.weight"));
            byte[] expected = new byte[(int) GgmlType.Q8_0.bytesFor(src.length)];
            Quantizer.quantize(GgmlType.Q8_0, src, 0, src.length, expected, 0);
            assertThat(up.data().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(expected);
            // ffn_down rows have 172 elements: not a multiple of 32, so F16.
            assertThat(converted.tensor("blk.0.ffn_down.weight").type()).isEqualTo(GgmlType.F16);
            assertThat(converted.integer("general.file_type")).isEqualTo(7);
        }
    }

    @Test
    void convert_llama3Config_writesRopeFreqsAndTiesOutput() throws IOException {
        ModelShape shape = new ModelShape("l3", "llama", 128, 1, 4, 2, 256, 400, 4096, 500000f, 1e-5f, true, false,
                new ModelShape.Llama3RopeScaling(32f, 1f, 4f, 8192));
        Path synthetic = dir.resolve("l3.gguf");
        SyntheticModel.write(shape, GgmlType.F32, null, 3, synthetic, 1, null);
        Path hf = Files.createDirectories(dir.resolve("l3-hf"));
        try (GgufFile g = GgufFile.open(synthetic)) {
            HfFixture.writeSafetensors(hf.resolve("model.safetensors"), HfFixture.tensorsFromGguf(g, "BF16", true));
            ObjectNode config = HfFixture.config(g, "LlamaForCausalLM");
            config.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 32.0).put("low_freq_factor", 1.0)
                    .put("high_freq_factor", 4.0).put("original_max_position_embeddings", 8192);
            config.put("head_dim", 32);
            HfFixture.write(hf.resolve("config.json"), config);
            HfFixture.write(hf.resolve("tokenizer.json"), HfFixture.sentencePieceTokenizer(g));
        }
        Path out = dir.resolve("l3-converted.gguf");
        HfConverter.convert(hf, out, null, null);
        try (GgufFile c = GgufFile.open(out); GgufFile g = GgufFile.open(synthetic)) {
            assertThat(c.tensorOrNull("output.weight")).isNull();
            assertThat(Quantizer.dequantize(c.tensor("rope_freqs.weight"))).containsExactly(shape.ropeFrequencyFactors());
            assertThat(c.real("llama.rope.freq_base", 0)).isEqualTo(500000.0);
            assertThat(c.tensor("blk.0.attn_k.weight").type()).isEqualTo(GgmlType.BF16);
            float[] k = Quantizer.dequantize(g.tensor("blk.0.attn_k.weight"));
            for (int i = 0; i < k.length; i++) {
                k[i] = Float.intBitsToFloat((Short.toUnsignedInt(dev.tandem.engine.gguf.FloatBits.toBf16(k[i]))) << 16);
            }
            assertThat(Quantizer.dequantize(c.tensor("blk.0.attn_k.weight"))).containsExactly(k);
            assertThat(c.has("tokenizer.chat_template")).isFalse();
        }
    }

    @Test
    void convert_qwen2ByteLevelBpe_reproducesConvertersVocabMergesAndNoPermutation() throws IOException {
        Path hf = Files.createDirectories(dir.resolve("qwen-hf"));
        SplittableRandom random = new SplittableRandom(5);
        Map<String, float[]> biases = new LinkedHashMap<>();
        try (GgufFile g = GgufFile.open(MODELS.resolve("qwen2-vocab-tiny.gguf"))) {
            Map<String, HfFixture.Tensor> tensors = new LinkedHashMap<>(HfFixture.tensorsFromGguf(g, "F16", false));
            int dim = (int) g.integer("llama.embedding_length");
            int kv = dim / (int) g.integer("llama.attention.head_count") * (int) g.integer("llama.attention.head_count_kv");
            for (String p : List.of("q", "k", "v")) {
                float[] b = new float[p.equals("q") ? dim : kv];
                for (int i = 0; i < b.length; i++) {
                    b[i] = (float) random.nextGaussian();
                }
                biases.put(p, b);
                tensors.put("model.layers.0.self_attn." + p + "_proj.bias", new HfFixture.Tensor("F32", new long[] {b.length}, b));
            }
            HfFixture.writeSafetensors(hf.resolve("model.safetensors"), tensors);
            ObjectNode config = HfFixture.config(g, "Qwen2ForCausalLM");
            config.put("bos_token_id", 151643).put("eos_token_id", 151645);
            HfFixture.write(hf.resolve("config.json"), config);
            HfFixture.write(hf.resolve("tokenizer.json"), byteLevelTokenizer(g));
            ObjectNode tc = Json.MAPPER.createObjectNode();
            tc.putNull("bos_token");
            tc.put("eos_token", "<|im_end|>").put("pad_token", "<|endoftext|>").put("add_bos_token", false);
            tc.put("chat_template", g.string("tokenizer.chat_template"));
            HfFixture.write(hf.resolve("tokenizer_config.json"), tc);
        }
        Path out = dir.resolve("qwen.gguf");
        HfConverter.convert(hf, out, null, null);
        try (GgufFile o = GgufFile.open(MODELS.resolve("qwen2-vocab-tiny.gguf")); GgufFile c = GgufFile.open(out)) {
            assertThat(c.string("general.architecture")).isEqualTo("qwen2");
            assertThat(c.string("tokenizer.ggml.model")).isEqualTo("gpt2");
            assertThat(c.string("tokenizer.ggml.pre")).isEqualTo("qwen2");
            assertThat(c.strings("tokenizer.ggml.tokens")).isEqualTo(o.strings("tokenizer.ggml.tokens"));
            assertThat(c.integers("tokenizer.ggml.token_type")).isEqualTo(o.integers("tokenizer.ggml.token_type"));
            assertThat(c.strings("tokenizer.ggml.merges")).isEqualTo(o.strings("tokenizer.ggml.merges"));
            assertThat(c.has("tokenizer.ggml.scores")).isFalse();
            assertThat(c.integer("tokenizer.ggml.bos_token_id")).isEqualTo(151643);
            assertThat(c.integer("tokenizer.ggml.eos_token_id")).isEqualTo(151645);
            assertThat(c.integer("tokenizer.ggml.padding_token_id")).isEqualTo(151643);
            assertThat(c.bool("tokenizer.ggml.add_bos_token", true)).isFalse();
            assertThat(c.string("tokenizer.chat_template")).isEqualTo(o.string("tokenizer.chat_template"));
            assertThat(c.real("qwen2.rope.freq_base", 0)).isEqualTo(1e6);
            GgufTensor q = c.tensor("blk.0.attn_q.weight");
            assertThat(q.type()).isEqualTo(GgmlType.F16);
            assertThat(q.data().mismatch(o.tensor("blk.0.attn_q.weight").data())).isEqualTo(-1);
            assertThat(Quantizer.dequantize(c.tensor("blk.0.attn_k.bias"))).containsExactly(biases.get("k"));
            assertThat(c.tensorOrNull("output.weight")).isNull();
        }
    }

    /** tokenizer.json for a GGUF "gpt2" vocabulary, as Qwen2's: added tokens separate, [PAD] ids absent. */
    private static ObjectNode byteLevelTokenizer(GgufFile g) {
        String[] tokens = g.strings("tokenizer.ggml.tokens");
        long[] types = g.integers("tokenizer.ggml.token_type");
        ObjectNode root = Json.MAPPER.createObjectNode();
        ArrayNode added = root.putArray("added_tokens");
        ObjectNode model = Json.MAPPER.createObjectNode();
        model.put("type", "BPE");
        model.put("byte_fallback", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int id = 0; id < tokens.length; id++) {
            if (types[id] == HfTokenizer.NORMAL) {
                vocab.put(tokens[id], id);
            } else if (types[id] == HfTokenizer.CONTROL || types[id] == HfTokenizer.USER_DEFINED) {
                // Qwen2.5 marks <|fim_*|> and <|repo_name|>, <|file_sep|> not special; they still look special.
                boolean special = types[id] == HfTokenizer.CONTROL && !tokens[id].startsWith("<|fim")
                        && !tokens[id].equals("<|repo_name|>") && !tokens[id].equals("<|file_sep|>");
                added.addObject().put("id", id).put("content", tokens[id]).put("special", special);
            }
        }
        ArrayNode merges = model.putArray("merges");
        for (String m : g.strings("tokenizer.ggml.merges")) {
            String[] parts = m.split(" ");
            merges.addArray().add(parts[0]).add(parts[1]);
        }
        ObjectNode pre = root.putObject("pre_tokenizer");
        pre.put("type", "Sequence");
        ArrayNode steps = pre.putArray("pretokenizers");
        steps.addObject().put("type", "Split").put("behavior", "Isolated").put("invert", false)
                .putObject("pattern").put("Regex", HfTokenizer.QWEN2_REGEX);
        steps.addObject().put("type", "ByteLevel").put("add_prefix_space", false).put("use_regex", false);
        root.set("model", model);
        return root;
    }

    // ---- errors ---------------------------------------------------------------------------------

    private Path writeSafetensorsRaw(String name, String headerJson, int dataBytes) throws IOException {
        Path file = dir.resolve(name);
        byte[] header = headerJson.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(header.length).put(header);
        Files.write(file, b.array());
        return file;
    }

    @Test
    void safetensors_headerLies_eachGivesOneClearError() throws IOException {
        Path beyond = writeSafetensorsRaw("beyond.safetensors",
                "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
        assertThatThrownBy(() -> Safetensors.open(List.of(beyond))).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("tensor w has data_offsets [0, 16] outside the 8 data bytes");
        Path wrongSize = writeSafetensorsRaw("size.safetensors",
                "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,8]}}", 16);
        assertThatThrownBy(() -> Safetensors.open(List.of(wrongSize))).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("shape [2,3] of F16 needs 12 bytes but data_offsets cover 8");
        Path longHeader = dir.resolve("long.safetensors");
        Files.write(longHeader, ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1000).array());
        assertThatThrownBy(() -> Safetensors.open(List.of(longHeader))).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("header length 1000 but the file has 16 bytes");
        Path badJson = writeSafetensorsRaw("json.safetensors", "{\"w\": [", 0);
        assertThatThrownBy(() -> Safetensors.open(List.of(badJson))).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("header is not valid JSON");
        Path badDtype = writeSafetensorsRaw("dtype.safetensors",
                "{\"w\":{\"dtype\":\"Q3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
        assertThatThrownBy(() -> Safetensors.open(List.of(badDtype))).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("unknown dtype Q3");
        Path tiny = dir.resolve("tiny.safetensors");
        Files.write(tiny, new byte[3]);
        assertThatThrownBy(() -> Safetensors.open(List.of(tiny))).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("not a safetensors file");
    }

    @Test
    void convert_configMissingKey_namesKey() throws IOException {
        Path hf = storiesAsHf("F32");
        ObjectNode config = (ObjectNode) Json.read(hf.resolve("config.json"));
        config.remove("num_hidden_layers");
        HfFixture.write(hf.resolve("config.json"), config);
        assertThatThrownBy(() -> HfConverter.convert(hf, dir.resolve("x.gguf"), null, null))
                .isInstanceOf(ModelFormatException.class).hasMessageContaining("config.json: missing key num_hidden_layers");
        config.put("num_hidden_layers", 5);
        config.putArray("architectures").add("GPT2LMHeadModel");
        HfFixture.write(hf.resolve("config.json"), config);
        assertThatThrownBy(() -> HfConverter.convert(hf, dir.resolve("x.gguf"), null, null))
                .isInstanceOf(ModelFormatException.class).hasMessageContaining("unsupported architecture GPT2LMHeadModel");
        assertThat(dir.resolve("x.gguf")).doesNotExist();
    }

    @Test
    void convert_missingTokenizerOrWeights_namesWhatIsMissing() throws IOException {
        Path hf = storiesAsHf("F32");
        Files.delete(hf.resolve("tokenizer.json"));
        assertThatThrownBy(() -> HfConverter.convert(hf, dir.resolve("x.gguf"), null, null))
                .isInstanceOf(ModelFormatException.class).hasMessageContaining("has config.json but no tokenizer.json");
        Path other = storiesAsHf("F16");
        Files.delete(other.resolve("model.safetensors"));
        assertThatThrownBy(() -> HfConverter.convert(other, dir.resolve("x.gguf"), null, null))
                .isInstanceOf(ModelFormatException.class).hasMessageContaining("no *.safetensors weights");
    }

    @Test
    void convert_shapeDisagreesWithConfig_namesTensor() throws IOException {
        Path hf = storiesAsHf("F32");
        ObjectNode config = (ObjectNode) Json.read(hf.resolve("config.json"));
        config.put("intermediate_size", 180);
        HfFixture.write(hf.resolve("config.json"), config);
        assertThatThrownBy(() -> HfConverter.convert(hf, dir.resolve("x.gguf"), null, null))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("mlp.gate_proj.weight has shape [172, 64], config.json implies [180, 64]");
    }

    @Test
    void convert_missingLayerTensor_namesIt() throws IOException {
        Path hf = storiesAsHf("F32");
        ObjectNode config = (ObjectNode) Json.read(hf.resolve("config.json"));
        config.put("num_hidden_layers", 6);
        HfFixture.write(hf.resolve("config.json"), config);
        assertThatThrownBy(() -> HfConverter.convert(hf, dir.resolve("x.gguf"), null, null))
                .isInstanceOf(ModelFormatException.class).hasMessageContaining("missing tensors model.layers.5.");
    }

    @Test
    void resolve_hfDirectory_convertsOnceAndReconvertsWhenChanged() throws IOException {
        Path hf = storiesAsHf("F32");
        ModelResolver resolver = new ModelResolver(new ModelResolver.Settings(List.of(), dir.resolve("cache"),
                URI.create("http://127.0.0.1:9"), false, Duration.ofSeconds(1), Duration.ofSeconds(1),
                Duration.ofSeconds(1), null));
        ModelResolver.ResolvedModel first = resolver.resolve(hf.toString());
        assertThat(first.path().getParent()).isEqualTo(dir.resolve("cache/converted"));
        assertThat(first.origin()).isEqualTo(hf);
        FileTime written = Files.getLastModifiedTime(first.path());
        ModelResolver.ResolvedModel second = resolver.resolve(hf.toString());
        assertThat(second.path()).isEqualTo(first.path());
        assertThat(Files.getLastModifiedTime(second.path())).isEqualTo(written);

        Files.setLastModifiedTime(hf.resolve("config.json"), FileTime.fromMillis(System.currentTimeMillis() + 5000));
        ModelResolver.ResolvedModel third = resolver.resolve(hf.toString());
        assertThat(third.path()).isNotEqualTo(first.path()).exists();
        try (GgufFile g = GgufFile.open(third.path())) {
            assertThat(g.string("general.architecture")).isEqualTo("llama");
        }
    }

    @Test
    void safetensorsFiles_indexChoosesShardsAndConsolidatedIsIgnored() throws IOException {
        Path hf = Files.createDirectories(dir.resolve("sharded"));
        for (String f : List.of("a.safetensors", "b.safetensors", "consolidated.safetensors", "c.safetensors")) {
            Files.write(hf.resolve(f), new byte[0]);
        }
        assertThat(HfConverter.safetensorsFiles(hf)).extracting(p -> p.getFileName().toString())
                .containsExactly("a.safetensors", "b.safetensors", "c.safetensors");
        Files.writeString(hf.resolve("model.safetensors.index.json"),
                "{\"weight_map\": {\"x\": \"b.safetensors\", \"y\": \"a.safetensors\", \"z\": \"b.safetensors\"}}");
        assertThat(HfConverter.safetensorsFiles(hf)).extracting(p -> p.getFileName().toString())
                .containsExactly("a.safetensors", "b.safetensors");
    }

    @Test
    void sourceRow_isAPermutationPerHead() {
        for (int headDim : new int[] {2, 8, 64}) {
            boolean[] seen = new boolean[3 * headDim];
            for (int r = 0; r < seen.length; r++) {
                int s = HfConverter.sourceRow(r, headDim);
                assertThat(s / headDim).isEqualTo(r / headDim);
                seen[s] = true;
            }
            assertThat(seen).containsOnly(true);
        }
        assertThat(HfConverter.sourceRow(1, 8)).isEqualTo(4);
        assertThat(HfConverter.sourceRow(2, 8)).isEqualTo(1);
    }
}
