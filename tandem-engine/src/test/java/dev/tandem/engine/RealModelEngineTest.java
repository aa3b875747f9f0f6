package dev.tandem.engine;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvDtype;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.SamplingParams;
import dev.tandem.engine.mock.VirtualClock;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The scheduler over the real transformer on stories260K: llama.cpp's greedy continuation, and
 * batching, chunked prefill, prefix caching and preemption leaving greedy tokens unchanged.
 */
class RealModelEngineTest {
    private static final int VOCAB = 512;
    private static final int BOS = 1;

    static Path modelDir() {
        String prop = System.getProperty("tandem.test.models");
        if (prop != null && Files.isDirectory(Path.of(prop))) {
            return Path.of(prop);
        }
        String env = System.getenv("TANDEM_MODEL_PATH");
        if (env != null && Files.isDirectory(Path.of(env))) {
            return Path.of(env);
        }
        return Path.of("/work/main/../shared/models");
    }

    static Path stories() {
        return modelDir().resolve("stories260K.gguf");
    }

    private final VirtualClock clock = new VirtualClock();

    private LlmEngine engine(EngineConfig config) {
        return LlmEngine.builderForModel(stories(), config, 2).clock(clock).driven().build();
    }

    private static EngineConfig config(int blocks, int maxBatchTokens, int maxSeqs, KvDtype dtype) {
        return EngineConfig.DEFAULT.withKvBlocks(blocks).withBatchLimits(maxBatchTokens, maxSeqs)
                .withKvDtype(dtype);
    }

    private static int[] prompt(long seed, int length) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] p = new int[length];
        p[0] = BOS;
        for (int i = 1; i < length; i++) {
            p[i] = 3 + r.nextInt(VOCAB - 3);
        }
        return p;
    }

    /** Greedy tokens of one request alone in a fresh engine. */
    private int[] alone(int[] prompt, int maxTokens, KvDtype dtype) {
        try (LlmEngine e = engine(config(256, 256, 16, dtype))) {
            RecordingSink sink = new RecordingSink(clock::nanoTime);
            e.submit(new GenerateRequest("alone", prompt, SamplingParams.GREEDY, maxTokens, null, true, -1), sink);
            TestEngines.runToIdle(e);
            return sink.ids();
        }
    }

    @ParameterizedTest
    @EnumSource(KvDtype.class)
    void generate_onceUponATime_matchesLlamaCppGreedyContinuation(KvDtype dtype) throws IOException {
        JsonNode ref = new ObjectMapper().readTree(modelDir().resolve("../reference/llamacpp-stories260K.json").toFile());
        int[] prompt = ints(ref.at("/greedy/prompt_ids_with_bos"));
        int[] expected = ints(ref.at("/greedy/token_ids"));
        try (LlmEngine e = engine(config(64, 64, 4, dtype))) {
            assertThat(e.info().layout().layerCount()).isEqualTo(5);
            RecordingSink sink = new RecordingSink(clock::nanoTime);
            e.submit(GenerateRequest.greedy("story", prompt, expected.length), sink);
            TestEngines.runToIdle(e);
            assertThat(sink.ids()).containsExactly(expected);
            assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        }
    }

    @Test
    void batched_sixteenSequencesMixedWithPrefill_eachEqualsItsUnbatchedGreedyTokens() {
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            prompts.add(prompt(100 + i, 5 + 7 * i));
        }
        int maxTokens = 40;
        try (LlmEngine e = engine(config(256, 256, 16, KvDtype.F32))) {
            List<RecordingSink> sinks = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                RecordingSink sink = new RecordingSink(clock::nanoTime);
                e.submit(new GenerateRequest("r" + i, prompts.get(i), SamplingParams.GREEDY, maxTokens, null, true, -1), sink);
                sinks.add(sink);
                if (i % 4 == 3) {
                    e.doWork(); // later prompts prefill while earlier sequences decode
                }
            }
            TestEngines.runToIdle(e);
            for (int i = 0; i < 16; i++) {
                assertThat(sinks.get(i).ids()).as("sequence %d batched vs alone", i)
                        .containsExactly(alone(prompts.get(i), maxTokens, KvDtype.F32));
            }
        }
    }

    @Test
    void cachedPrefix_ninetyPercentShared_sameTokensAsUncached() {
        int[] first = prompt(7, 160);
        int[] second = Arrays.copyOf(first, 160);
        int[] tail = prompt(8, 17);
        System.arraycopy(tail, 1, second, 144, 16); // shares 144 tokens = 9 blocks of 16
        try (LlmEngine e = engine(config(64, 256, 4, KvDtype.F16))) {
            RecordingSink a = new RecordingSink(clock::nanoTime);
            e.submit(GenerateRequest.greedy("first", first, 8), a);
            TestEngines.runToIdle(e);
            RecordingSink b = new RecordingSink(clock::nanoTime);
            e.submit(new GenerateRequest("second", second, SamplingParams.GREEDY, 24, null, true, -1), b);
            TestEngines.runToIdle(e);
            assertThat(b.usage.cachedPromptTokens()).isEqualTo(144);
            assertThat(b.ids()).containsExactly(alone(second, 24, KvDtype.F16));
        }
    }

    /**
     * A follow-up turn (the previous prompt, its reply, a new message) takes over the previous
     * sequence's partly computed last block: it reuses every computed token, not just full
     * blocks, and generates what a cold engine generates.
     */
    @Test
    void followUpTurn_reusesThePreviousReplyToTheToken_sameTokensAsUncached() {
        int[] first = prompt(11, 37);
        try (LlmEngine e = engine(config(64, 256, 4, KvDtype.F16))) {
            RecordingSink a = new RecordingSink(clock::nanoTime);
            e.submit(GenerateRequest.greedy("turn1", first, 10), a);
            TestEngines.runToIdle(e);
            int[] reply = a.ids();
            int[] next = prompt(12, 6);
            int[] second = new int[first.length + reply.length + 5];
            System.arraycopy(first, 0, second, 0, first.length);
            System.arraycopy(reply, 0, second, first.length, reply.length);
            System.arraycopy(next, 1, second, first.length + reply.length, 5);
            RecordingSink b = new RecordingSink(clock::nanoTime);
            e.submit(new GenerateRequest("turn2", second, SamplingParams.GREEDY, 12, null, true, -1), b);
            TestEngines.runToIdle(e);
            assertThat(b.usage.cachedPromptTokens()).as("every computed token of turn 1 (its last sampled one never is)")
                    .isEqualTo(first.length + reply.length - 1);
            assertThat(b.ids()).containsExactly(alone(second, 12, KvDtype.F16));
        }
    }

    @Test
    void preemptionAndChunkedPrefill_tinyPoolSmallBudget_sameTokensAsAlone() {
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            prompts.add(prompt(40 + i, 40 + i));
        }
        // each sequence grows to about 100 positions = 7 blocks of 16; the pool holds 14
        try (LlmEngine e = engine(config(14, 24, 4, KvDtype.F32))) {
            List<RecordingSink> sinks = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                RecordingSink sink = new RecordingSink(clock::nanoTime);
                e.submit(new GenerateRequest("r" + i, prompts.get(i), SamplingParams.GREEDY, 56, null, true, -1), sink);
                sinks.add(sink);
            }
            TestEngines.runToIdle(e);
            assertThat(e.scheduler().preemptions()).isPositive();
            for (int i = 0; i < 4; i++) {
                assertThat(sinks.get(i).ids()).as("sequence %d", i).containsExactly(alone(prompts.get(i), 56, KvDtype.F32));
            }
            TestEngines.assertAllBlocksReturned(e);
        }
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }
}
