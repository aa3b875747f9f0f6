package dev.tandem.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.KvDtype;
import dev.tandem.core.RequestException;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** stories260K against llama.cpp's reference outputs, and the batching/chunking/paging invariances. */
class TransformerStoriesTest {
    private static final System.Logger LOG = System.getLogger(TransformerStoriesTest.class.getName());
    static Transformer model;
    static JsonNode reference;

    @BeforeAll
    static void load() {
        model = Transformer.open(TestModels.stories260K(), 64, 2);
        reference = TestModels.reference("llamacpp-stories260K.json");
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** A shuffled, non-contiguous table of n blocks out of a pool of 3n. */
    static int[] scattered(int n, long seed) {
        int[] all = Sequences.contiguous(0, 3 * n);
        java.util.Random rnd = new java.util.Random(seed);
        for (int i = all.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int tmp = all[i];
            all[i] = all[j];
            all[j] = tmp;
        }
        return Arrays.copyOf(all, n);
    }

    @ParameterizedTest
    @EnumSource(KvDtype.class)
    void greedy_onceUponATime_matchesLlamaCpp64Tokens(KvDtype dtype) {
        int[] prompt = TestModels.ints(reference.at("/greedy/prompt_ids_with_bos"));
        int[] expected = TestModels.ints(reference.at("/greedy/token_ids"));
        try (Sequences s = new Sequences(model, 16, 30, dtype, 1)) {
            int[] table = scattered(10, 3);
            float[] last = s.prefill(table, prompt, prompt.length);
            int[] actual = s.greedy(table, prompt.length, last, expected.length);
            assertThat(actual).as("greedy continuation with %s KV", dtype).containsExactly(expected);
        }
    }

    @Test
    void logits_promptLastPosition_withinTolerance() {
        int[] prompt = TestModels.ints(reference.at("/prompt_last_position/prompt_ids_with_bos"));
        JsonNode ref = reference.at("/prompt_last_position/logits");
        try (Sequences s = new Sequences(model, 16, 4, KvDtype.F32, 1)) {
            float[] logits = s.prefill(Sequences.contiguous(0, 1), prompt, prompt.length);
            double maxDiff = 0;
            for (int i = 0; i < ref.size(); i++) {
                maxDiff = Math.max(maxDiff, Math.abs(logits[i] - ref.get(i).asDouble()));
            }
            LOG.log(System.Logger.Level.INFO, "stories260K logits vs llama.cpp: max |diff| = {0}", maxDiff);
            System.out.printf("stories260K prompt-last-position logits vs llama.cpp: max |diff| = %.3e over %d logits%n",
                    maxDiff, ref.size());
            assertThat(maxDiff).isLessThan(1e-2);
            JsonNode top = reference.at("/prompt_last_position/top10");
            for (int i = 0; i < top.size(); i++) {
                assertThat((double) logits[top.get(i).get("id").asInt()])
                        .isCloseTo(top.get(i).get("logit").asDouble(), org.assertj.core.api.Assertions.within(1e-2));
            }
        }
    }

    @Test
    void forward_oneChunkSeveralChunksOrTokenByToken_sameLogits() {
        int[] ids = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267};
        float[] whole;
        float[] chunks;
        float[] single;
        try (Sequences s = new Sequences(model, 4, 40, KvDtype.F32, 1)) {
            whole = s.prefill(scattered(5, 1), ids, ids.length);
            chunks = s.prefill(scattered(5, 2), ids, 7, 3, 5);
            single = s.prefill(scattered(5, 3), ids, 1);
        }
        assertThat(Sequences.maxAbsDiff(whole, chunks)).isLessThan(1e-4);
        assertThat(Sequences.maxAbsDiff(whole, single)).isLessThan(1e-4);
        assertThat(Sequences.argmax(whole, 0, whole.length)).isEqualTo(Sequences.argmax(single, 0, single.length));
    }

    @Test
    void forward_twoSequencesInOneBatch_sameLogitsAsEachAlone() {
        int[] a = {1, 403, 407, 261, 378, 432, 383};
        int[] b = {1, 317, 269, 274, 287, 263, 377, 267, 265, 282, 295};
        // Same arithmetic either way, but a vector's lane sum (reduceLanes) has no fixed order: the
        // interpreter and the compiled kernels add the lanes differently (see MatMulTest), so a step
        // run before the JIT compiled a kernel differs in the last bits; 5e-4 on logits up to ~20.
        double tolerance = 5e-4;
        try (Sequences s = new Sequences(model, 4, 40, KvDtype.F16, 2)) {
            int[] tableA = {9, 3, 17};
            int[] tableB = {0, 12, 5};
            float[] aloneA = s.prefill(tableA, a, a.length);
            float[] aloneB = s.prefill(tableB, b, b.length);
            // Both prompts again, in one step, into other blocks; then one decode step for both.
            int[] tableA2 = {1, 2, 4};
            int[] tableB2 = {6, 7, 8};
            s.batch.clear();
            s.batch.add(a, 0, a.length, 0, tableA2, true);
            s.batch.add(b, 0, b.length, 0, tableB2, true);
            model.forward(s.batch, s.kv, s.logits);
            int vocab = model.vocabSize();
            assertThat(Sequences.maxAbsDiff(aloneA, Arrays.copyOfRange(s.logits, 0, vocab))).isLessThan(tolerance);
            assertThat(Sequences.maxAbsDiff(aloneB, Arrays.copyOfRange(s.logits, vocab, 2 * vocab))).isLessThan(tolerance);

            int[] nextA = {Sequences.argmax(aloneA, 0, vocab)};
            int[] nextB = {Sequences.argmax(aloneB, 0, vocab)};
            s.batch.clear();
            s.batch.add(nextB, 0, 1, b.length, tableB2, true);
            s.batch.add(nextA, 0, 1, a.length, tableA2, true);
            model.forward(s.batch, s.kv, s.logits);
            float[] batchedB = Arrays.copyOfRange(s.logits, 0, vocab);
            float[] batchedA = Arrays.copyOfRange(s.logits, vocab, 2 * vocab);
            s.batch.clear();
            s.batch.add(nextA, 0, 1, a.length, tableA, true);
            model.forward(s.batch, s.kv, s.logits);
            assertThat(Sequences.maxAbsDiff(batchedA, Arrays.copyOf(s.logits, vocab))).isLessThan(tolerance);
            s.batch.clear();
            s.batch.add(nextB, 0, 1, b.length, tableB, true);
            model.forward(s.batch, s.kv, s.logits);
            assertThat(Sequences.maxAbsDiff(batchedB, Arrays.copyOf(s.logits, vocab))).isLessThan(tolerance);
        }
    }

    @Test
    void forward_sequenceNotWantingLogits_leavesItsRowUntouched() {
        int[] a = {1, 403, 407};
        try (Sequences s = new Sequences(model, 16, 4, KvDtype.F32, 2)) {
            Arrays.fill(s.logits, 42f);
            s.batch.clear();
            s.batch.add(a, 0, 3, 0, new int[] {0}, false);
            s.batch.add(a, 0, 3, 0, new int[] {1}, true);
            model.forward(s.batch, s.kv, s.logits);
            assertThat(s.logits[0]).isEqualTo(42f);
            assertThat(s.logits[model.vocabSize()]).isNotEqualTo(42f);
        }
    }

    @Test
    void forward_beyondContextLength_isRequestErrorNamingTheContext() {
        try (Sequences s = new Sequences(model, 16, 130, KvDtype.F32, 1)) {
            s.batch.clear();
            s.batch.add(new int[] {1, 2}, 0, 2, 2047, Sequences.contiguous(0, 129), true);
            assertThatThrownBy(() -> model.forward(s.batch, s.kv, s.logits))
                    .isInstanceOf(RequestException.class)
                    .hasMessageContaining("context length is 2048");
        }
    }

    @Test
    void forward_blockTableTooShort_isRejected() {
        try (Sequences s = new Sequences(model, 4, 4, KvDtype.F32, 1)) {
            s.batch.clear();
            s.batch.add(new int[] {1, 2, 3, 4, 5}, 0, 5, 0, new int[] {0}, true);
            assertThatThrownBy(() -> model.forward(s.batch, s.kv, s.logits))
                    .hasMessageContaining("needs 2 blocks");
        }
    }

    @Test
    void forward_tokenOutsideVocabulary_isRequestError() {
        try (Sequences s = new Sequences(model, 16, 4, KvDtype.F32, 1)) {
            s.batch.clear();
            s.batch.add(new int[] {1, 512}, 0, 2, 0, new int[] {0}, true);
            assertThatThrownBy(() -> model.forward(s.batch, s.kv, s.logits))
                    .isInstanceOf(RequestException.class).hasMessageContaining("token id 512");
        }
    }
}
