package dev.tandem.engine;

import static dev.tandem.engine.TestEngines.config;
import static dev.tandem.engine.TestEngines.prompt;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RequestHandle;
import dev.tandem.engine.kvcache.EventLog;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The engine on its own thread, with submits and cancels from many threads. */
@Timeout(60)
class ThreadedEngineTest {
    private static final int VOCAB = 48;

    private static LlmEngine start(HistoryModelRunner runner, EngineConfig config) {
        return LlmEngine.builder("threaded", runner).config(config).kvShape(1, 1, HistoryModelRunner.HEAD_DIM).build();
    }

    @Test
    void submit_fromManyThreads_allFinishWithReferenceTokens() throws Exception {
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 256);
        try (LlmEngine engine = start(runner, config(128, 64, 8))) {
            List<RecordingSink> sinks = new ArrayList<>();
            List<int[]> prompts = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                sinks.add(new RecordingSink());
                prompts.add(prompt(i, 2 + i % 17, VOCAB));
            }
            try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
                for (int i = 0; i < 40; i++) {
                    int k = i;
                    pool.submit(() -> engine.submit(GenerateRequest.greedy("r" + k, prompts.get(k), 10 + k % 7), sinks.get(k)));
                }
            }
            for (int i = 0; i < 40; i++) {
                assertThat(sinks.get(i).finished.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
                assertThat(sinks.get(i).ids()).containsExactly(runner.greedy(prompts.get(i), 10 + i % 7, new int[0]));
            }
            LoadReport load = awaitLoad(engine, l -> l.activeBlocks() == 0 && l.runningSequences() == 0);
            assertThat(load.promptTokens()).isPositive();
        }
    }

    @Test
    void cancel_fromOtherThreadsAtRandomTimes_everyRequestEndsOnceAndBlocksReturn() throws Exception {
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 512);
        try (LlmEngine engine = start(runner, config(48, 32, 6))) {
            EventLog log = new EventLog();
            engine.subscribe(log);
            int n = 60;
            List<RecordingSink> sinks = new ArrayList<>();
            List<RequestHandle> handles = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                RecordingSink sink = new RecordingSink();
                sinks.add(sink);
                handles.add(engine.submit(GenerateRequest.greedy("r" + i, prompt(i % 5, 5 + i % 11, VOCAB), 60), sink));
            }
            CountDownLatch go = new CountDownLatch(1);
            try (ExecutorService pool = Executors.newFixedThreadPool(3)) {
                for (int i = 0; i < n; i += 2) {
                    int k = i;
                    pool.submit(() -> {
                        go.await();
                        Thread.sleep(k % 7);
                        handles.get(k).cancel();
                        return null;
                    });
                }
                go.countDown();
            }
            for (int i = 0; i < n; i++) {
                FinishReason r = sinks.get(i).finished.get(30, TimeUnit.SECONDS);
                if (i % 2 == 1) {
                    assertThat(r).isEqualTo(FinishReason.LENGTH);
                }
                assertThat(sinks.get(i).violation).isNull();
            }
            awaitLoad(engine, l -> l.activeBlocks() == 0 && l.runningSequences() == 0 && l.waitingSequences() == 0);
            var snap = engine.kvSnapshot();
            assertThat(EventLog.replay(log.copy(), snap.lastEventId())).containsExactly(EventLog.sorted(snap));
        }
    }

    @Test
    void close_withRunningRequests_cancelsThemAndStopsTheThread() throws Exception {
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 4096);
        runner.stepDelayMs = 2; // 4000 steps take >= 8 s: the request is still running at close
        LlmEngine engine = start(runner, config(1024, 64, 8));
        RecordingSink sink = new RecordingSink();
        engine.submit(GenerateRequest.greedy("long", prompt(1, 8, VOCAB), 4000), sink);
        while (sink.tokens.isEmpty()) {
            Thread.onSpinWait();
        }
        engine.close();
        assertThat(sink.finished.get(10, TimeUnit.SECONDS)).isEqualTo(FinishReason.CANCELLED);
        assertThat(runner.closed).isTrue();
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().equals("tandem-engine-threaded"));
    }

    private static LoadReport awaitLoad(LlmEngine engine, java.util.function.Predicate<LoadReport> condition)
            throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            LoadReport l = engine.load();
            if (condition.test(l)) {
                return l;
            }
            Thread.sleep(5);
        }
        throw new AssertionError("load never reached the condition; last " + engine.load());
    }
}
