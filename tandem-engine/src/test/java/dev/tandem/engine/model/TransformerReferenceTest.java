package dev.tandem.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.core.KvDtype;
import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.gguf.GgufWriter;
import dev.tandem.engine.ops.MatMul;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The Transformer against {@link ReferenceForward} on small generated models, one per feature:
 * GQA, partial rotary, llama3 rope scaling (tensor and metadata), qwen2 (NEOX rope, biases),
 * tied output, and every weight type the GGUF writer produces.
 */
class TransformerReferenceTest {
    @TempDir
    Path dir;

    static Stream<TinyModel> models() {
        return Stream.of(
                TinyModel.llama(GgmlType.F32),
                TinyModel.llama(GgmlType.F16),
                TinyModel.llama(GgmlType.BF16),
                TinyModel.llama(GgmlType.Q8_0),
                TinyModel.llama(GgmlType.Q4_0),
                new TinyModel("llama", GgmlType.F32, 8, "none", false, false),
                new TinyModel("llama", GgmlType.F32, 16, "freqs", false, true),
                new TinyModel("llama", GgmlType.F32, 16, "llama3", false, false),
                new TinyModel("qwen2", GgmlType.F32, 16, "none", true, true),
                new TinyModel("qwen2", GgmlType.Q8_0, 8, "none", true, false));
    }

    private static double maxAbs(double[] v) {
        double m = 0;
        for (double x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void forward_chunkedPromptThenDecode_matchesReference(TinyModel spec) {
        Path file = dir.resolve("m.gguf");
        spec.write(file, 7);
        int[] ids = new int[12];
        SplittableRandom rnd = new SplittableRandom(3);
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rnd.nextInt(TinyModel.VOCAB);
        }
        double[][] expected;
        try (GgufFile gguf = GgufFile.open(file)) {
            expected = new ReferenceForward(gguf, spec.freqFactors()).logits(ids);
        }
        try (Transformer model = Transformer.open(file, 16, 2);
             Sequences s = new Sequences(model, 4, 8, KvDtype.F32, 1)) {
            int[] table = {5, 0, 7};
            int[] prompt = java.util.Arrays.copyOf(ids, 11);
            float[] prefill = s.prefill(table, prompt, 5, 6); // both chunks take the matrix-matrix path
            // The output projection of one row (and a one-token step) takes the decode path: 8/4-bit
            // weights then multiply Q8-quantised activations, about 1% error; everything else is float.
            boolean quantisedX = spec.matrixType() == GgmlType.Q8_0 || spec.matrixType() == GgmlType.Q4_0;
            double relative = quantisedX ? 3e-2 : 1e-4;
            double scale = Math.max(1, maxAbs(expected[10]));
            for (int v = 0; v < TinyModel.VOCAB; v++) {
                assertThat((double) prefill[v]).as("%s prefill logit %d", spec, v)
                        .isCloseTo(expected[10][v], within(relative * scale));
            }
            s.batch.clear();
            s.batch.add(ids, 11, 1, 11, table, true);
            model.forward(s.batch, s.kv, s.logits);
            double tolerance = relative * Math.max(1, maxAbs(expected[11]));
            for (int v = 0; v < TinyModel.VOCAB; v++) {
                assertThat((double) s.logits[v]).as("%s decode logit %d", spec, v)
                        .isCloseTo(expected[11][v], within(tolerance));
            }
            assertThat(MatMul.GEMM_MIN_TOKENS).isLessThanOrEqualTo(5);
        }
    }

    @Test
    void config_qwen2_usesNeoxRopeBiasesAndTiedOutput() {
        Path file = dir.resolve("q.gguf");
        new TinyModel("qwen2", GgmlType.F32, 8, "none", true, true).write(file, 1);
        try (Transformer model = Transformer.open(file, 4, 1)) {
            ModelConfig c = model.config();
            assertThat(c.architecture()).isEqualTo("qwen2");
            assertThat(c.ropeStyle()).isEqualTo(ModelConfig.RopeStyle.NEOX);
            assertThat(c.ropeDim()).isEqualTo(8);
            assertThat(c.headDim()).isEqualTo(16);
            assertThat(c.kvHeadCount()).isEqualTo(2);
            assertThat(model.weights().tiedOutput()).isTrue();
        }
    }

    @Test
    void config_llama3Metadata_readsScaling() {
        Path file = dir.resolve("l3.gguf");
        new TinyModel("llama", GgmlType.F32, 16, "llama3", false, false).write(file, 1);
        try (GgufFile gguf = GgufFile.open(file)) {
            assertThat(ModelConfig.from(gguf).ropeScaling()).isEqualTo(TinyModel.LLAMA3);
        }
    }

    @Test
    void open_unsupportedArchitecture_namesIt() {
        Path file = dir.resolve("gpt2.gguf");
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "gpt2");
        w.addTensor("token_embd.weight", GgmlType.F32, 4, 4);
        w.write(file, (t, sink) -> sink.write(new byte[(int) t.sizeBytes()], 0, (int) t.sizeBytes()));
        assertThatThrownBy(() -> Transformer.open(file, 4, 1))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("unsupported architecture 'gpt2'");
    }

    @Test
    void open_unsupportedTensorType_namesTypeAndTensor() {
        Path file = dir.resolve("q51.gguf");
        new TinyModel("llama", GgmlType.Q5_1, 16, "none", false, false).write(file, 1);
        assertThatThrownBy(() -> Transformer.open(file, 4, 1))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("Q5_1")
                .hasMessageContaining("token_embd.weight");
    }

    @Test
    void open_missingTensor_namesIt() {
        Path file = dir.resolve("missing.gguf");
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putU32("llama.embedding_length", 32);
        w.putU32("llama.block_count", 1);
        w.putU32("llama.attention.head_count", 2);
        w.putU32("llama.feed_forward_length", 32);
        w.putU32("llama.context_length", 16);
        w.addTensor("token_embd.weight", GgmlType.F32, 32, 8);
        w.write(file, (t, sink) -> sink.write(new byte[(int) t.sizeBytes()], 0, (int) t.sizeBytes()));
        assertThatThrownBy(() -> Transformer.open(file, 4, 1))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("missing tensor blk.0.attn_norm.weight");
    }
}
