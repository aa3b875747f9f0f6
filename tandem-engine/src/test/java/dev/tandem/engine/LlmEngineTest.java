package dev.tandem.engine;

import static dev.tandem.engine.TestEngines.BLOCK_SIZE;
import static dev.tandem.engine.TestEngines.assertAllBlocksReturned;
import static dev.tandem.engine.TestEngines.config;
import static dev.tandem.engine.TestEngines.driven;
import static dev.tandem.engine.TestEngines.prompt;
import static dev.tandem.engine.TestEngines.runToIdle;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.SamplingParams;
import dev.tandem.engine.kvcache.EventLog;
import dev.tandem.engine.mock.VirtualClock;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class LlmEngineTest {
    private static final int VOCAB = 64;
    private final VirtualClock clock = new VirtualClock();
    private final HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 512);
    private LlmEngine engine;

    @AfterEach
    void close() {
        if (engine != null) {
            engine.close();
        }
    }

    private RecordingSink submit(String id, int[] prompt, int maxTokens) {
        RecordingSink sink = new RecordingSink(clock::nanoTime);
        engine.submit(GenerateRequest.greedy(id, prompt, maxTokens), sink);
        return sink;
    }

    @Test
    void submit_singleGreedyRequest_streamsReferenceTokensThenLength() {
        engine = driven(runner, config(64, 64, 8), clock);
        int[] p = prompt(1, 13, VOCAB);
        RecordingSink sink = submit("a", p, 20);
        runToIdle(engine);
        assertThat(sink.ids()).containsExactly(runner.greedy(p, 20, new int[0]));
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        assertThat(sink.usage.promptTokens()).isEqualTo(13);
        assertThat(sink.usage.completionTokens()).isEqualTo(20);
        assertThat(sink.violation).isNull();
        assertAllBlocksReturned(engine);
    }

    @Test
    void submit_sixteenSequencesBatched_eachMatchesItsUnbatchedTokens() {
        engine = driven(runner, config(256, 128, 16), clock);
        List<RecordingSink> sinks = new ArrayList<>();
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            int[] p = prompt(100 + i, 3 + i * 2, VOCAB);
            prompts.add(p);
            sinks.add(submit("r" + i, p, 12 + i));
        }
        runToIdle(engine);
        for (int i = 0; i < 16; i++) {
            assertThat(sinks.get(i).ids()).as("request %d", i).containsExactly(runner.greedy(prompts.get(i), 12 + i, new int[0]));
        }
        assertThat(runner.stepSequenceCounts.stream().mapToInt(Integer::intValue).max().orElse(0))
                .as("most sequences in one step").isEqualTo(16);
        assertAllBlocksReturned(engine);
    }

    @Test
    void submit_sharedPrefix_secondRequestReusesWholeBlocksAndMatchesUncached() {
        engine = driven(runner, config(64, 64, 8), clock);
        int[] first = prompt(7, 22, VOCAB);        // 5 full blocks + 2 tokens
        submit("first", first, 3);
        runToIdle(engine);
        int[] second = Arrays.copyOf(first, 30);
        second[21] = (second[21] + 1) % VOCAB;      // diverges in the partial block 5
        for (int i = 22; i < 30; i++) {
            second[i] = i % VOCAB;
        }
        RecordingSink s2 = submit("second", second, 5);
        runToIdle(engine);
        assertThat(s2.usage.cachedPromptTokens()).isEqualTo(5 * BLOCK_SIZE);
        assertThat(s2.ids()).containsExactly(runner.greedy(second, 5, new int[0]));
        LoadReport load = engine.load();
        assertThat(load.promptTokens()).isEqualTo(52);
        assertThat(load.cachedPromptTokens()).isEqualTo(20);
    }

    @Test
    void submit_identicalBlockAlignedPrompt_recomputesOnlyTheLastBlock() {
        engine = driven(runner, config(64, 64, 8), clock);
        int[] p = prompt(3, 16, VOCAB);
        RecordingSink a = submit("a", p, 4);
        runToIdle(engine);
        RecordingSink b = submit("b", p, 4);
        runToIdle(engine);
        // the last prompt token must be recomputed for its logits: 3 of 4 blocks come from the cache
        assertThat(b.usage.cachedPromptTokens()).isEqualTo(12);
        assertThat(b.ids()).containsExactly(a.ids());
    }

    @Test
    void submit_identicalPartialBlockPrompt_partialBlockTakenOverUpToTheLastToken() {
        engine = driven(runner, config(64, 64, 8), clock);
        int[] p = prompt(4, 10, VOCAB);
        RecordingSink a = submit("a", p, 1);
        runToIdle(engine);
        RecordingSink b = submit("b", p, 1);
        runToIdle(engine);
        // two full blocks, then the first sequence's tail (tokens 8, 9) up to the last prompt token
        assertThat(b.usage.cachedPromptTokens()).isEqualTo(9);
        assertThat(b.ids()).containsExactly(a.ids());
        RecordingSink c = submit("c", p, 1);
        runToIdle(engine);
        assertThat(c.usage.cachedPromptTokens()).as("b left its own tail").isEqualTo(9);
    }

    @Test
    void submit_longPromptWithSmallBudget_prefillsInChunksWhileOthersKeepDecoding() {
        engine = driven(runner, config(128, 8, 4), clock);
        int[] shortPrompt = prompt(5, 3, VOCAB);
        RecordingSink decoding = submit("decoding", shortPrompt, 30);
        engine.doWork();
        engine.doWork();
        int tokensBefore = decoding.tokens.size();
        int stepsBefore = runner.stepTokenCounts.size();
        int[] longPrompt = prompt(6, 50, VOCAB);
        RecordingSink chunked = submit("chunked", longPrompt, 2);
        // 50 prompt tokens at 7 per step (1 token of 8 goes to the decode): 8 steps of prefill
        for (int i = 0; i < 7; i++) {
            engine.doWork();
            engine.checkInvariants();
        }
        assertThat(decoding.tokens.size()).as("the decoding sequence got a token every step").isEqualTo(tokensBefore + 7);
        assertThat(chunked.tokens).as("still prefilling").isEmpty();
        assertThat(runner.stepTokenCounts.subList(stepsBefore, stepsBefore + 7)).allMatch(n -> n == 8);
        engine.doWork();
        assertThat(chunked.tokens).as("last chunk of 1 token samples the first token").hasSize(1);
        runToIdle(engine);
        assertThat(chunked.ids()).containsExactly(runner.greedy(longPrompt, 2, new int[0]));
        assertThat(decoding.ids()).containsExactly(runner.greedy(shortPrompt, 30, new int[0]));
    }

    @Test
    void submit_poolTooSmallForAll_preemptsLatestArrivalAndStillProducesReferenceTokens() {
        // 3 sequences each growing to 4 + 20 = 24 positions = 6 blocks; the pool holds 12
        engine = driven(runner, config(12, 64, 8), clock);
        List<RecordingSink> sinks = new ArrayList<>();
        List<int[]> prompts = new ArrayList<>();
        List<String> finishOrder = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            int[] p = prompt(20 + i, 4, VOCAB);
            prompts.add(p);
            String id = "r" + i;
            RecordingSink sink = new RecordingSink(clock::nanoTime) {
                @Override
                public synchronized void onFinish(FinishReason r, dev.tandem.core.Usage u) {
                    finishOrder.add(id);
                    super.onFinish(r, u);
                }
            };
            sinks.add(sink);
            engine.submit(GenerateRequest.greedy(id, p, 21), sink);
        }
        runToIdle(engine);
        assertThat(engine.scheduler().preemptions()).isPositive();
        for (int i = 0; i < 3; i++) {
            assertThat(sinks.get(i).ids()).as("request %d", i).containsExactly(runner.greedy(prompts.get(i), 21, new int[0]));
        }
        assertThat(finishOrder).containsExactly("r0", "r1", "r2");
        assertAllBlocksReturned(engine);
    }

    @Test
    void cancel_runningRequest_releasesBlocksWithinOneStep() {
        engine = driven(runner, config(64, 64, 8), clock);
        RecordingSink sink = new RecordingSink(clock::nanoTime);
        RequestHandle handle = engine.submit(GenerateRequest.greedy("a", prompt(8, 9, VOCAB), 50), sink);
        for (int i = 0; i < 5; i++) {
            engine.doWork();
        }
        assertThat(engine.load().activeBlocks()).isPositive();
        int tokens = sink.tokens.size();
        handle.cancel();
        handle.cancel(); // idempotent
        engine.doWork();
        engine.checkInvariants();
        assertThat(sink.reason).isEqualTo(FinishReason.CANCELLED);
        assertThat(sink.usage.completionTokens()).isEqualTo(tokens);
        assertThat(sink.tokens).hasSize(tokens);
        assertThat(engine.load().activeBlocks()).isZero();
        assertThat(engine.load().runningSequences()).isZero();
        runToIdle(engine);
        assertThat(sink.violation).isNull();
    }

    @Test
    void cancel_waitingRequest_finishesCancelledWithoutRunning() {
        engine = driven(runner, config(64, 64, 1), clock);
        RecordingSink first = submit("first", prompt(1, 5, VOCAB), 5);
        RecordingSink second = new RecordingSink(clock::nanoTime);
        RequestHandle handle = engine.submit(GenerateRequest.greedy("second", prompt(2, 5, VOCAB), 5), second);
        engine.doWork();
        assertThat(engine.load().waitingSequences()).isEqualTo(1);
        handle.cancel();
        engine.doWork();
        assertThat(second.reason).isEqualTo(FinishReason.CANCELLED);
        assertThat(second.tokens).isEmpty();
        assertThat(engine.load().waitingSequences()).isZero();
        runToIdle(engine);
        assertThat(first.reason).isEqualTo(FinishReason.LENGTH);
    }

    @Test
    void generate_eosAndStopIds_finishWithStopAndIncludeTheStopToken() {
        int[] p = prompt(11, 6, VOCAB);
        int[] free = runner.greedy(p, 10, new int[0]);
        engine = driven(runner, config(64, 64, 8), clock, free[3]);
        RecordingSink eos = submit("eos", p, 10);
        RecordingSink ignore = new RecordingSink(clock::nanoTime);
        engine.submit(new GenerateRequest("ignore", p, SamplingParams.GREEDY, 10, null, true, -1), ignore);
        RecordingSink stop = new RecordingSink(clock::nanoTime);
        engine.submit(new GenerateRequest("stop", p, SamplingParams.GREEDY, 10, new int[] {free[1]}, true, -1), stop);
        runToIdle(engine);
        assertThat(eos.ids()).containsExactly(Arrays.copyOf(free, 4));
        assertThat(eos.reason).isEqualTo(FinishReason.STOP);
        assertThat(ignore.ids()).containsExactly(free);
        assertThat(ignore.reason).isEqualTo(FinishReason.LENGTH);
        assertThat(stop.ids()).containsExactly(Arrays.copyOf(free, 2));
        assertThat(stop.reason).isEqualTo(FinishReason.STOP);
    }

    @Test
    void submit_promptPlusMaxTokensBeyondContext_failsInvalidNamingTheNumbers() {
        engine = driven(new HistoryModelRunner(VOCAB, 32), config(64, 64, 8), clock);
        assertThatThrownBy(() -> submit("x", prompt(1, 20, VOCAB), 13))
                .isInstanceOfSatisfying(RequestException.class, e -> {
                    assertThat(e.kind()).isEqualTo(RequestException.Kind.INVALID);
                    assertThat(e.param()).isEqualTo("max_tokens");
                })
                .hasMessageContaining("20 tokens").hasMessageContaining("13").hasMessageContaining("32");
        submit("fits", prompt(1, 20, VOCAB), 12);
    }

    @Test
    void submit_moreBlocksThanThePool_failsInvalid() {
        engine = driven(runner, config(4, 64, 8), clock);
        // 10 + 8 - 1 = 17 positions need 5 blocks of 4
        assertThatThrownBy(() -> submit("x", prompt(1, 10, VOCAB), 8))
                .isInstanceOfSatisfying(RequestException.class, e -> assertThat(e.kind()).isEqualTo(RequestException.Kind.INVALID))
                .hasMessageContaining("5 KV blocks").hasMessageContaining("holds only 4");
        submit("fits", prompt(1, 10, VOCAB), 7);
        runToIdle(engine);
    }

    @Test
    void submit_tokenIdOutsideVocabulary_failsInvalid() {
        engine = driven(runner, config(64, 64, 8), clock);
        assertThatThrownBy(() -> submit("x", new int[] {1, VOCAB, 2}, 1))
                .isInstanceOf(RequestException.class).hasMessageContaining("token id 64 at position 1");
    }

    @Test
    void submit_queueFull_failsOverloadedUntilOneFinishes() {
        engine = driven(runner, config(64, 64, 8).withMaxQueuedRequests(2), clock);
        submit("a", prompt(1, 3, VOCAB), 1);
        submit("b", prompt(2, 3, VOCAB), 1);
        assertThatThrownBy(() -> submit("c", prompt(3, 3, VOCAB), 1))
                .isInstanceOfSatisfying(RequestException.class, e -> assertThat(e.kind()).isEqualTo(RequestException.Kind.OVERLOADED));
        runToIdle(engine);
        submit("d", prompt(4, 3, VOCAB), 1);
    }

    @Test
    void submit_afterClose_failsUnavailableAndRunningRequestsWereCancelled() {
        engine = driven(runner, config(64, 64, 8), clock);
        RecordingSink running = submit("a", prompt(1, 3, VOCAB), 100);
        engine.doWork();
        engine.close();
        assertThat(running.reason).isEqualTo(FinishReason.CANCELLED);
        assertThat(runner.closed).isTrue();
        assertThatThrownBy(() -> submit("b", prompt(1, 3, VOCAB), 1))
                .isInstanceOfSatisfying(RequestException.class, e -> assertThat(e.kind()).isEqualTo(RequestException.Kind.UNAVAILABLE));
    }

    @Test
    void sinkThatThrows_cancelsOnlyItsRequest() {
        engine = driven(runner, config(64, 64, 8), clock);
        int[] p = prompt(12, 5, VOCAB);
        engine.submit(GenerateRequest.greedy("bad", p, 10), new RecordingSink(clock::nanoTime) {
            @Override
            public synchronized void onToken(dev.tandem.core.GeneratedToken token) {
                throw new IllegalStateException("client went away");
            }
        });
        RecordingSink good = submit("good", p, 10);
        runToIdle(engine);
        assertThat(good.ids()).containsExactly(runner.greedy(p, 10, new int[0]));
        assertAllBlocksReturned(engine);
    }

    @Test
    void forwardFailure_failsTheStepsRequestsWithInternalAndEngineContinues() {
        engine = driven(runner, config(64, 64, 8), clock);
        RecordingSink a = submit("a", prompt(1, 5, VOCAB), 3);
        runner.failNext = new IllegalStateException("kernel bug");
        engine.doWork();
        assertThat(a.error).isInstanceOfSatisfying(RequestException.class,
                e -> assertThat(e.kind()).isEqualTo(RequestException.Kind.INTERNAL));
        RecordingSink b = submit("b", prompt(1, 5, VOCAB), 3);
        runToIdle(engine);
        assertThat(b.reason).isEqualTo(FinishReason.LENGTH);
        assertAllBlocksReturned(engine);
    }

    @Test
    void kvEvents_numberedWithoutGapsAndSnapshotEqualsReplay() {
        engine = driven(runner, config(16, 32, 4), clock);
        EventLog log = new EventLog();
        engine.subscribe(log);
        for (int i = 0; i < 12; i++) {
            submit("r" + i, prompt(i % 4, 9 + i, VOCAB), 6);
            for (int k = 0; k < 3; k++) {
                engine.doWork();
                var snap = engine.kvSnapshot();
                assertThat(EventLog.replay(log.copy(), snap.lastEventId())).containsExactly(EventLog.sorted(snap));
            }
        }
        runToIdle(engine);
        var snap = engine.kvSnapshot();
        assertThat(log.events).isNotEmpty();
        assertThat(log.events.stream().anyMatch(e -> e instanceof KvEvent.Removed)).as("evictions happened").isTrue();
        for (int i = 0; i < log.events.size(); i++) {
            assertThat(log.events.get(i).eventId()).isEqualTo(i);
        }
        assertThat(snap.lastEventId()).isEqualTo(log.events.size() - 1);
        assertThat(EventLog.replay(log.copy(), snap.lastEventId())).containsExactly(EventLog.sorted(snap));
        engine.clearKvCache();
        assertThat(log.events.getLast()).isInstanceOf(KvEvent.Cleared.class);
        assertThat(engine.kvSnapshot().sequenceHashes()).isEmpty();
    }

    @Test
    void loadReports_onChangeAndPeriodically() {
        engine = driven(runner, config(64, 64, 8).withLoadReportIntervalMs(100), clock);
        List<LoadReport> reports = new ArrayList<>();
        engine.subscribeLoad(reports::add);
        submit("a", prompt(1, 9, VOCAB), 3);
        engine.doWork();
        assertThat(reports).isNotEmpty();
        assertThat(reports.getLast().runningSequences()).isEqualTo(1);
        assertThat(reports.getLast().activeBlocks()).isEqualTo(3);
        runToIdle(engine);
        int n = reports.size();
        engine.doWork();
        assertThat(reports).as("nothing changed, interval not reached").hasSize(n);
        clock.advanceBy(100_000_000L);
        engine.doWork();
        assertThat(reports).hasSize(n + 1);
        assertThat(reports.getLast().runningSequences()).isZero();
        assertThat(reports.getLast().cachedBlocks()).as("two registered blocks and the tail of 3 tokens").isEqualTo(3);
    }
}
