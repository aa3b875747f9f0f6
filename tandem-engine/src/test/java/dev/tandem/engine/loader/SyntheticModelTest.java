package dev.tandem.engine.loader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.core.ConfigException;
import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.gguf.GgufTensor;
import dev.tandem.engine.gguf.Quantizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SyntheticModelTest {
    private static final ModelShape TINY = ModelShape.named("tiny").orElseThrow();
    /** Llama 3 style: tied embeddings and rope scaling, at a test-friendly size. */
    private static final ModelShape TINY_LLAMA3 = new ModelShape("tiny-llama3", "llama", 128, 2, 4, 2, 256, 400, 4096,
            500000f, 1e-5f, true, false, new ModelShape.Llama3RopeScaling(32f, 1f, 4f, 8192));
    /** Qwen2 style: biases, tied embeddings. */
    private static final ModelShape TINY_QWEN2 = new ModelShape("tiny-qwen2", "qwen2", 64, 1, 2, 1, 96, 320, 1024,
            1e6f, 1e-6f, true, true, null);

    @TempDir
    Path dir;

    private Path synth(ModelShape shape, GgmlType type, long seed, int threads) {
        Path out = dir.resolve(shape.name() + "-" + type + "-" + seed + "-" + threads + ".gguf");
        SyntheticModel.write(shape, type, null, seed, out, threads, null);
        return out;
    }

    @Test
    void write_tinyQ8_0_readsBackWithShapesMetadataAndVocab() {
        AtomicLong lastProgress = new AtomicLong();
        Path out = dir.resolve("tiny.gguf");
        SyntheticModel.write(TINY, GgmlType.Q8_0, null, 7, out, 2, (done, total) -> lastProgress.set(done));
        try (GgufFile g = GgufFile.open(out)) {
            assertThat(lastProgress.get()).isEqualTo(g.fileBytes());
            assertThat(g.string("general.architecture")).isEqualTo("llama");
            assertThat(g.integer("general.file_type")).isEqualTo(7);
            assertThat(g.integer("llama.embedding_length")).isEqualTo(64);
            assertThat(g.integer("llama.block_count")).isEqualTo(2);
            assertThat(g.integer("llama.attention.head_count")).isEqualTo(4);
            assertThat(g.integer("llama.attention.head_count_kv")).isEqualTo(2);
            assertThat(g.integer("llama.feed_forward_length")).isEqualTo(192);
            assertThat(g.integer("llama.rope.dimension_count")).isEqualTo(16);
            assertThat(g.integer("llama.context_length")).isEqualTo(512);
            assertThat(g.real("llama.rope.freq_base", 0)).isEqualTo(10000.0);
            assertThat(g.real("llama.attention.layer_norm_rms_epsilon", 0)).isCloseTo(1e-5, within(1e-12));

            String[] tokens = g.strings("tokenizer.ggml.tokens");
            long[] types = g.integers("tokenizer.ggml.token_type");
            double[] scores = g.reals("tokenizer.ggml.scores");
            assertThat(g.string("tokenizer.ggml.model")).isEqualTo("llama");
            assertThat(tokens).hasSize(512).doesNotHaveDuplicates();
            assertThat(types).hasSize(512);
            assertThat(scores).hasSize(512);
            assertThat(List.of(tokens[0], tokens[1], tokens[2], tokens[3], tokens[13], tokens[258]))
                    .containsExactly("<unk>", "<s>", "</s>", "<0x00>", "<0x0A>", "<0xFF>");
            assertThat(types[0]).isEqualTo(2);
            assertThat(types[1]).isEqualTo(3);
            assertThat(types[100]).isEqualTo(6);
            assertThat(types[259]).isEqualTo(1);
            assertThat(tokens[259]).isEqualTo("\u2581");
            assertThat(scores[300]).isLessThan(scores[299]);
            assertThat(g.integer("tokenizer.ggml.bos_token_id")).isEqualTo(1);
            assertThat(g.integer("tokenizer.ggml.eos_token_id")).isEqualTo(2);
            assertThat(g.bool("tokenizer.ggml.add_bos_token", false)).isTrue();

            assertThat(g.tensors()).hasSize(2 + 2 * 9 + 1);
            assertTensor(g, "token_embd.weight", GgmlType.Q8_0, 64, 512);
            assertTensor(g, "output.weight", GgmlType.Q8_0, 64, 512);
            assertTensor(g, "output_norm.weight", GgmlType.F32, 64);
            assertTensor(g, "blk.1.attn_norm.weight", GgmlType.F32, 64);
            assertTensor(g, "blk.1.attn_q.weight", GgmlType.Q8_0, 64, 64);
            assertTensor(g, "blk.1.attn_k.weight", GgmlType.Q8_0, 64, 32);
            assertTensor(g, "blk.1.attn_v.weight", GgmlType.Q8_0, 64, 32);
            assertTensor(g, "blk.1.attn_output.weight", GgmlType.Q8_0, 64, 64);
            assertTensor(g, "blk.1.ffn_gate.weight", GgmlType.Q8_0, 64, 192);
            assertTensor(g, "blk.1.ffn_up.weight", GgmlType.Q8_0, 64, 192);
            assertTensor(g, "blk.1.ffn_down.weight", GgmlType.Q8_0, 192, 64);
            assertThat(Quantizer.dequantize(g.tensor("blk.0.ffn_norm.weight"))).containsOnly(1f);
            assertThat(g.tensorOrNull("rope_freqs.weight")).isNull();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"F32", "F16", "BF16", "Q8_0", "Q4_0"})
    void write_eachType_weightsLookLikeN0_002(String typeName) {
        GgmlType type = GgmlType.valueOf(typeName);
        try (GgufFile g = GgufFile.open(synth(TINY, type, 1, 2))) {
            GgufTensor t = g.tensor("blk.0.ffn_up.weight");
            assertThat(t.type()).isEqualTo(type);
            float[] w = Quantizer.dequantize(t);
            double sum = 0;
            double sumSq = 0;
            for (float v : w) {
                sum += v;
                sumSq += v * v;
            }
            double mean = sum / w.length;
            double std = Math.sqrt(sumSq / w.length - mean * mean);
            assertThat(mean).isCloseTo(0, within(0.002));
            assertThat(std).isCloseTo(SyntheticModel.WEIGHT_STD, within(0.002));
            assertThat(g.tensor("blk.0.ffn_norm.weight").type()).isEqualTo(GgmlType.F32);
            assertThat(g.integer("general.file_type")).isEqualTo(SyntheticModel.fileType(type));
        }
    }

    @Test
    void write_sameSeedAnyThreadCount_identicalBytes() throws IOException {
        byte[] one = Files.readAllBytes(synth(TINY, GgmlType.Q4_0, 99, 1));
        byte[] three = Files.readAllBytes(synth(TINY, GgmlType.Q4_0, 99, 3));
        byte[] otherSeed = Files.readAllBytes(synth(TINY, GgmlType.Q4_0, 100, 1));
        assertThat(three).isEqualTo(one);
        assertThat(otherSeed).hasSameSizeAs(one).isNotEqualTo(one);
    }

    @Test
    void write_tensorLargerThanOneChunk_chunksDiffer() {
        ModelShape wide = new ModelShape("wide", "llama", 256, 1, 2, 2, 512, 600, 128, 10000f, 1e-5f, false, false, null);
        try (GgufFile g = GgufFile.open(synth(wide, GgmlType.F32, 3, 2))) {
            float[] w = Quantizer.dequantize(g.tensor("token_embd.weight"));
            assertThat(w.length).isGreaterThan(2 * SyntheticModel.CHUNK_ELEMENTS);
            float[] first = java.util.Arrays.copyOfRange(w, 0, 64);
            float[] second = java.util.Arrays.copyOfRange(w, SyntheticModel.CHUNK_ELEMENTS, SyntheticModel.CHUNK_ELEMENTS + 64);
            assertThat(second).isNotEqualTo(first);
        }
    }

    @Test
    void write_llama3Shape_tiedWithRopeFactors() {
        try (GgufFile g = GgufFile.open(synth(TINY_LLAMA3, GgmlType.Q8_0, 5, 2))) {
            assertThat(g.tensorOrNull("output.weight")).isNull();
            assertTensor(g, "token_embd.weight", GgmlType.Q8_0, 128, 400);
            assertTensor(g, "rope_freqs.weight", GgmlType.F32, 16);
            float[] factors = Quantizer.dequantize(g.tensor("rope_freqs.weight"));
            assertThat(factors).containsExactly(TINY_LLAMA3.ropeFrequencyFactors());
        }
    }

    @Test
    void ropeFrequencyFactors_llama32_oneForHighFrequenciesFactorForLow() {
        float[] f = ModelShape.named("llama-3.2-1b").orElseThrow().ropeFrequencyFactors();
        assertThat(f).hasSize(32);
        assertThat(f[0]).isEqualTo(1f);
        assertThat(f[31]).isEqualTo(32f);
        for (int i = 1; i < f.length; i++) {
            assertThat(f[i]).isGreaterThanOrEqualTo(f[i - 1]);
        }
        // Wavelength 2*pi*500000^(2i/64) lies between 8192/4 and 8192/1 only for i = 15, 16, 17.
        int blended = 0;
        for (float v : f) {
            blended += v > 1f && v < 32f ? 1 : 0;
        }
        assertThat(blended).isEqualTo(3);
        assertThat(ModelShape.named("tinyllama-1.1b").orElseThrow().ropeFrequencyFactors()).isNull();
    }

    @Test
    void write_qwen2Shape_hasBiasesAndNoOutput() {
        try (GgufFile g = GgufFile.open(synth(TINY_QWEN2, GgmlType.F16, 5, 1))) {
            assertThat(g.string("general.architecture")).isEqualTo("qwen2");
            assertThat(g.integer("qwen2.attention.head_count_kv")).isEqualTo(1);
            assertThat(g.real("qwen2.rope.freq_base", 0)).isEqualTo(1e6);
            assertTensor(g, "blk.0.attn_q.bias", GgmlType.F32, 64);
            assertTensor(g, "blk.0.attn_k.bias", GgmlType.F32, 32);
            assertTensor(g, "blk.0.attn_v.bias", GgmlType.F32, 32);
            assertThat(g.tensorOrNull("output.weight")).isNull();
            assertThat(Quantizer.dequantize(g.tensor("blk.0.attn_q.bias"))).doesNotContain(0f);
        }
    }

    @Test
    void write_outputTypeDiffers_appliesToOutputOnly() {
        Path out = dir.resolve("mixed.gguf");
        SyntheticModel.write(TINY, GgmlType.Q4_0, GgmlType.Q8_0, 1, out, 1, null);
        try (GgufFile g = GgufFile.open(out)) {
            assertThat(g.tensor("output.weight").type()).isEqualTo(GgmlType.Q8_0);
            assertThat(g.tensor("token_embd.weight").type()).isEqualTo(GgmlType.Q4_0);
            assertThat(g.tensor("blk.0.attn_q.weight").type()).isEqualTo(GgmlType.Q4_0);
        }
    }

    @Test
    void write_q4_0WithQ6_KOutput_asLlamaQuantizeDefault() {
        ModelShape wide = new ModelShape("wide", "llama", 256, 1, 4, 2, 512, 300, 128, 10000f, 1e-5f, false, false, null);
        Path out = dir.resolve("q4-q6.gguf");
        SyntheticModel.write(wide, GgmlType.Q4_0, GgmlType.Q6_K, 1, out, 2, null);
        try (GgufFile g = GgufFile.open(out)) {
            assertThat(g.tensor("output.weight").type()).isEqualTo(GgmlType.Q6_K);
            assertThat(g.tensor("token_embd.weight").type()).isEqualTo(GgmlType.Q4_0);
            assertThat(g.integer("general.file_type")).isEqualTo(2);
            float[] w = Quantizer.dequantize(g.tensor("output.weight"));
            double sumSq = 0;
            for (float v : w) {
                sumSq += v * v;
            }
            assertThat(Math.sqrt(sumSq / w.length)).isCloseTo(SyntheticModel.WEIGHT_STD, within(0.002));
        }
        // The tiny shape's width, 64, is no multiple of 256: its Q6_K output falls back to Q8_0.
        Path tiny = dir.resolve("tiny-q6.gguf");
        SyntheticModel.write(TINY, GgmlType.Q4_0, GgmlType.Q6_K, 1, tiny, 1, null);
        try (GgufFile g = GgufFile.open(tiny)) {
            assertThat(g.tensor("output.weight").type()).isEqualTo(GgmlType.Q8_0);
        }
    }

    @Test
    void write_unsupportedType_configError() {
        assertThatThrownBy(() -> SyntheticModel.write(TINY, GgmlType.Q5_K, null, 1, dir.resolve("x.gguf"), 1, null))
                .isInstanceOf(ConfigException.class).hasMessageContaining("not Q5_K");
        assertThatThrownBy(() -> SyntheticModel.write(TINY, GgmlType.Q6_K, null, 1, dir.resolve("x.gguf"), 1, null))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Q6_K needs rows of a multiple of 256 elements; shape tiny has rows of 64");
        assertThat(dir.resolve("x.gguf")).doesNotExist();
    }

    @Test
    void knownShapes_layoutMatchesPublishedParameterCounts() {
        // Published sizes: TinyLlama 1.1B = 1,100,048,384; Llama 3.2 1B = 1,235,814,400; Qwen2.5 0.5B = 494,032,768.
        assertThat(ModelShape.named("tinyllama-1.1b").orElseThrow().parameterCount()).isEqualTo(1_100_048_384L);
        assertThat(ModelShape.named("llama-3.2-1b").orElseThrow().parameterCount()).isEqualTo(1_235_814_400L);
        assertThat(ModelShape.named("qwen2.5-0.5b").orElseThrow().parameterCount()).isEqualTo(494_032_768L);
        assertThat(ModelShape.named("QWEN2.5-0.5B")).isPresent();
        assertThat(ModelShape.named("gpt-5")).isEmpty();
    }

    @Test
    void vocab_largestShape_uniquePiecesAllPrefixesPresent() {
        SyntheticVocab vocab = SyntheticVocab.generate(151936);
        String[] tokens = vocab.tokens();
        Set<String> all = new HashSet<>(List.of(tokens));
        assertThat(all).hasSize(tokens.length);
        List<String> missingPrefixes = new java.util.ArrayList<>();
        for (int i = SyntheticVocab.FIRST_PIECE_ID; i < tokens.length; i++) {
            String t = tokens[i];
            for (int cut = 1; cut < t.length(); cut++) {
                if (!all.contains(t.substring(0, cut))) {
                    missingPrefixes.add(t.substring(0, cut));
                }
            }
        }
        assertThat(missingPrefixes).isEmpty();
        assertThatThrownBy(() -> SyntheticVocab.generate(299)).hasMessageContaining("at least 300");
    }

    private static void assertTensor(GgufFile g, String name, GgmlType type, long... dims) {
        GgufTensor t = g.tensor(name);
        assertThat(t.type()).as(name).isEqualTo(type);
        assertThat(t.dims()).as(name).containsExactly(dims);
    }
}
