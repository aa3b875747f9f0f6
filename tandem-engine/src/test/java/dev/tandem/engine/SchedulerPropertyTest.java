package dev.tandem.engine;

import static dev.tandem.engine.TestEngines.BLOCK_SIZE;
import static dev.tandem.engine.TestEngines.assertAllBlocksReturned;
import static dev.tandem.engine.TestEngines.config;
import static dev.tandem.engine.TestEngines.driven;
import static dev.tandem.engine.TestEngines.runToIdle;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.SamplingParams;
import dev.tandem.engine.kvcache.EventLog;
import dev.tandem.engine.mock.VirtualClock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Random submit / cancel / step sequences against small pools: after every step the scheduler's
 * and block manager's invariants hold and the snapshot equals the replayed events; at the end
 * every request got exactly one terminal call, greedy outputs equal the cache-free reference
 * (cancelled ones a prefix of it), and every block is back in the pool.
 */
class SchedulerPropertyTest {
    private static final int VOCAB = 32;
    private static final int EOS = 5;

    private record Submitted(GenerateRequest request, RecordingSink sink, RequestHandle handle, boolean greedy) {
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
    void randomSubmitCancelFinish_seeded_invariantsHoldAndAllBlocksReturn(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int blocks = 6 + rnd.nextInt(26);
        int maxSeqs = 1 + rnd.nextInt(8);
        int maxBatch = maxSeqs + rnd.nextInt(30);
        VirtualClock clock = new VirtualClock();
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 96);
        LlmEngine engine = driven(runner, config(blocks, maxBatch, maxSeqs), clock, EOS);
        EventLog log = new EventLog();
        engine.subscribe(log);
        List<Submitted> all = new ArrayList<>();
        try {
            for (int op = 0; op < 250; op++) {
                int kind = rnd.nextInt(10);
                if (kind < 4) {
                    submitRandom(rnd, engine, clock, blocks, all);
                } else if (kind < 5 && !all.isEmpty()) {
                    all.get(rnd.nextInt(all.size())).handle().cancel();
                } else {
                    for (int k = 1 + rnd.nextInt(3); k > 0; k--) {
                        engine.doWork();
                        engine.checkInvariants();
                    }
                    KvSnapshot snap = engine.kvSnapshot();
                    assertThat(EventLog.replay(log.copy(), snap.lastEventId())).containsExactly(EventLog.sorted(snap));
                }
            }
            runToIdle(engine);
            for (Submitted s : all) {
                RecordingSink sink = s.sink();
                assertThat(sink.done()).as("%s finished", s.request()).isTrue();
                assertThat(sink.violation).as("%s protocol", s.request()).isNull();
                assertThat(sink.error).isNull();
                if (!s.greedy()) {
                    continue;
                }
                int[] expected = runner.greedy(s.request().promptTokens(), s.request().maxTokens(), new int[] {EOS});
                if (sink.reason == FinishReason.CANCELLED) {
                    assertThat(Arrays.copyOf(expected, sink.ids().length)).as("%s cancelled output is a prefix", s.request())
                            .containsExactly(sink.ids());
                } else {
                    assertThat(sink.ids()).as("%s output", s.request()).containsExactly(expected);
                    assertThat(sink.reason).isEqualTo(expected[expected.length - 1] == EOS ? FinishReason.STOP : FinishReason.LENGTH);
                }
            }
            assertAllBlocksReturned(engine);
            KvSnapshot snap = engine.kvSnapshot();
            assertThat(EventLog.replay(log.copy(), snap.lastEventId())).containsExactly(EventLog.sorted(snap));
            assertThat(engine.load().runningSequences() + engine.load().waitingSequences()).isZero();
        } catch (AssertionError | RuntimeException e) {
            throw new AssertionError("seed " + seed + " (blocks=" + blocks + " maxSeqs=" + maxSeqs + " maxBatch=" + maxBatch
                    + "): " + e.getMessage(), e);
        } finally {
            engine.close();
        }
    }

    private static void submitRandom(SplittableRandom rnd, LlmEngine engine, VirtualClock clock, int blocks,
                                     List<Submitted> all) {
        int family = rnd.nextInt(4);
        int length = 1 + rnd.nextInt(30);
        int[] prompt = new int[length];
        for (int i = 0; i < length; i++) {
            prompt[i] = rnd.nextInt(6) == 0 ? rnd.nextInt(VOCAB) : (family * 7 + i) % VOCAB;
        }
        int maxTokens = 1 + rnd.nextInt(24);
        boolean greedy = rnd.nextInt(5) != 0;
        SamplingParams params = greedy ? SamplingParams.GREEDY
                : new SamplingParams(0.9f, 10, 0.95f, 0f, rnd.nextLong(), 1.1f, 0f, 0f);
        GenerateRequest request = new GenerateRequest("r" + all.size(), prompt, params, maxTokens, null, false,
                rnd.nextInt(3) - 1);
        RecordingSink sink = new RecordingSink(clock::nanoTime);
        int needBlocks = (length + maxTokens - 1 + BLOCK_SIZE - 1) / BLOCK_SIZE;
        try {
            RequestHandle handle = engine.submit(request, sink);
            assertThat(needBlocks).as("admitted request fits the pool").isLessThanOrEqualTo(blocks);
            all.add(new Submitted(request, sink, handle, greedy));
        } catch (RequestException e) {
            assertThat(e.kind()).isEqualTo(RequestException.Kind.INVALID);
            assertThat(needBlocks).as("rejected: %s", e.getMessage()).isGreaterThan(blocks);
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {21, 22, 23})
    void seededSampling_aloneOrBatchedWithOthers_sameTokens(long seed) {
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 128);
        SamplingParams params = new SamplingParams(1.2f, 0, 1f, 0f, seed, 1f, 0f, 0f);
        int[] prompt = TestEngines.prompt((int) seed, 9, VOCAB);
        VirtualClock clock = new VirtualClock();
        int[] alone;
        try (LlmEngine engine = driven(runner, config(64, 64, 8), clock)) {
            RecordingSink sink = new RecordingSink(clock::nanoTime);
            engine.submit(new GenerateRequest("alone", prompt, params, 40, null, true, -1), sink);
            runToIdle(engine);
            alone = sink.ids();
        }
        try (LlmEngine engine = driven(runner, config(64, 64, 8), clock)) {
            List<RecordingSink> others = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                RecordingSink o = new RecordingSink(clock::nanoTime);
                engine.submit(new GenerateRequest("o" + i, TestEngines.prompt(i, 3 + i, VOCAB),
                        params.withSeed(seed + 100 + i), 30, null, true, -1), o);
                others.add(o);
            }
            engine.doWork();
            RecordingSink sink = new RecordingSink(clock::nanoTime);
            engine.submit(new GenerateRequest("batched", prompt, params, 40, null, true, -1), sink);
            runToIdle(engine);
            assertThat(sink.ids()).containsExactly(alone);
            assertThat(Arrays.equals(alone, others.getFirst().ids())).isFalse();
        }
    }
}
