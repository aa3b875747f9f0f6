package dev.tandem.engine.mock;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.core.ConfigException;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.RecordingSink;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.kvcache.EventLog;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MockEngineTest {

    @Test
    void timingProfile_dynamo_matchesThePolynomials() {
        TimingProfile t = TimingProfile.DYNAMO;
        assertThat(t.prefillMs(1000)).isCloseTo(4.2e-7 * 1e6 + 15.2 + 16.5, within(1e-9));
        assertThat(t.decodeMs(0.5)).isCloseTo(-25.7 * 0.25 + 27.0 + 5.7, within(1e-9));
        // a mixed step pays both, divided by the speed-up
        long nanos = t.withSpeedup(4).stepNanos(1000, 3, 50, 100);
        assertThat(nanos).isEqualTo(Math.round((t.prefillMs(1000) + t.decodeMs(0.5)) / 4 * 1e6));
        assertThat(t.stepNanos(0, 2, 0, 100)).isEqualTo(5_700_000L);
        assertThat(t.stepNanos(10, 0, 0, 100)).isEqualTo(Math.round(t.prefillMs(10) * 1e6));
        assertThatThrownBy(() -> t.withSpeedup(0)).isInstanceOf(ConfigException.class);
        assertThat(TimingProfile.named("Dynamo")).isEqualTo(t);
        assertThatThrownBy(() -> TimingProfile.named("gpu")).isInstanceOf(ConfigException.class).hasMessageContaining("gpu");
    }

    @Test
    void mockConfig_withoutBlockCount_isRefused() {
        assertThatThrownBy(() -> MockConfig.DEFAULT.withEngine(EngineConfig.DEFAULT))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--kv-blocks");
    }

    @ParameterizedTest
    @ValueSource(strings = {"dynamo", "tinyllama-q8-cpu2t"})
    void drivenMock_singleRequest_tokensArriveAtSimulatedStepTimes(String profile) {
        VirtualClock clock = new VirtualClock();
        EngineConfig ec = EngineConfig.DEFAULT.withKvBlocks(100).withMockProfile(profile);
        MockConfig cfg = MockConfig.DEFAULT.withEngine(ec).withTiming(ec.mockTiming());
        LlmEngine engine = MockEngine.driven(cfg, clock);
        assertThat(engine.info().simulated()).isTrue();
        SimulationDriver driver = new SimulationDriver(clock);
        driver.add(engine);
        int[] prompt = new int[100];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = 5000 + i; // any id: the mock accepts ids beyond its logits width
        }
        RecordingSink sink = new RecordingSink(clock::nanoTime);
        engine.submit(GenerateRequest.greedy("a", prompt, 4), sink);
        long end = driver.runUntilIdle(60_000_000_000L);

        TimingProfile t = profile.equals("dynamo") ? TimingProfile.DYNAMO : TimingProfile.TINYLLAMA_Q8_CPU2T;
        long prefill = Math.round(t.prefillMs(100) * 1e6);
        // decoding position 100.. needs 7 blocks of 16 until position 112
        long decode = Math.round(t.decodeMs(7 / 100.0) * 1e6);
        assertThat(sink.tokenTimes).containsExactly(prefill, prefill + decode, prefill + 2 * decode, prefill + 3 * decode);
        assertThat(end).isEqualTo(prefill + 3 * decode);
        MockModelRunner model = new MockModelRunner(cfg.vocabSize(), cfg.contextLength(), cfg.seed());
        int expected = model.nextToken(prompt[99], 99);
        assertThat(sink.ids()[0]).isEqualTo(expected);
        assertThat(sink.ids()[1]).isEqualTo(model.nextToken(expected, 100));
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
    }

    @Test
    void drivenMock_cachedPrefix_shortensTimeToFirstToken() {
        VirtualClock clock = new VirtualClock();
        LlmEngine engine = MockEngine.driven(MockConfig.DEFAULT.withEngine(EngineConfig.DEFAULT.withKvBlocks(1000)
                .withMaxBatchTokens(4096)), clock);
        SimulationDriver driver = new SimulationDriver(clock);
        driver.add(engine);
        int[] prompt = new int[2000];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = i;
        }
        RecordingSink cold = new RecordingSink(clock::nanoTime);
        engine.submit(GenerateRequest.greedy("cold", prompt, 1), cold);
        driver.runUntilIdle(Long.MAX_VALUE);
        long start = clock.nanoTime();
        RecordingSink warm = new RecordingSink(clock::nanoTime);
        engine.submit(GenerateRequest.greedy("warm", prompt, 1), warm);
        driver.runUntilIdle(Long.MAX_VALUE);
        assertThat(warm.usage.cachedPromptTokens()).isEqualTo(1984);
        TimingProfile t = TimingProfile.DYNAMO;
        assertThat(cold.tokenTimes.getFirst()).isEqualTo(Math.round(t.prefillMs(2000) * 1e6));
        assertThat(warm.tokenTimes.getFirst() - start).isEqualTo(Math.round(t.prefillMs(16) * 1e6));
        assertThat(warm.ids()).containsExactly(cold.ids());
        assertThat(engine.load().prefixHitRate()).isCloseTo(1984 / 4000.0, within(1e-9));
    }

    /**
     * 32 mock workers on one virtual clock serve a random workload with shared prefixes: every
     * request finishes with the mock's deterministic tokens, every worker's events replay to its
     * snapshot, and every block returns.
     */
    @Test
    void simulation_32Workers_randomWorkload_allFinishConsistently() {
        VirtualClock clock = new VirtualClock();
        SimulationDriver driver = new SimulationDriver(clock);
        List<EventLog> logs = new ArrayList<>();
        MockConfig cfg = MockConfig.DEFAULT.withEngine(EngineConfig.DEFAULT.withKvBlocks(256).withMaxSequences(16)
                .withMaxBatchTokens(256)).withTiming(TimingProfile.DYNAMO.withSpeedup(2));
        for (int w = 0; w < 32; w++) {
            LlmEngine e = driver.add(MockEngine.driven(cfg.withModelName("mock-" + w), clock));
            EventLog log = new EventLog();
            e.subscribe(log);
            logs.add(log);
        }
        SplittableRandom rnd = new SplittableRandom(7);
        List<RecordingSink> sinks = new ArrayList<>();
        long t = 0;
        for (int i = 0; i < 640; i++) {
            t += (long) (rnd.nextDouble() * 2_000_000); // about 1,000 requests per simulated second
            driver.runUntil(t);
            int[] prompt = new int[16 + rnd.nextInt(400)];
            int family = rnd.nextInt(10);
            for (int k = 0; k < prompt.length; k++) {
                prompt[k] = k < 128 ? family * 1000 + k : rnd.nextInt(50_000);
            }
            RecordingSink sink = new RecordingSink(clock::nanoTime);
            driver.engines().get(rnd.nextInt(32)).submit(GenerateRequest.greedy("r" + i, prompt, 1 + rnd.nextInt(64)), sink);
            sinks.add(sink);
        }
        driver.runUntilIdle(Long.MAX_VALUE);
        assertThat(sinks).allSatisfy(s -> {
            assertThat(s.reason).isEqualTo(FinishReason.LENGTH);
            assertThat(s.violation).isNull();
        });
        long hits = 0;
        for (int w = 0; w < 32; w++) {
            LlmEngine e = driver.engines().get(w);
            e.checkInvariants();
            assertThat(e.load().activeBlocks()).isZero();
            KvSnapshot snap = e.kvSnapshot();
            assertThat(EventLog.replay(logs.get(w).copy(), snap.lastEventId())).containsExactly(EventLog.sorted(snap));
            hits += e.load().cachedPromptTokens();
        }
        assertThat(hits).as("shared 128-token prefixes hit the cache").isPositive();
    }

    /** 32 mock workers in real time on this machine's 2 cores, each serving several requests. */
    @Test
    @Timeout(60)
    void realTime_32Workers_serveConcurrentRequestsAndRespectStepTimes() throws Exception {
        MockConfig cfg = MockConfig.DEFAULT.withEngine(EngineConfig.DEFAULT.withKvBlocks(512))
                .withTiming(TimingProfile.DYNAMO.withSpeedup(5));
        List<LlmEngine> engines = new ArrayList<>();
        List<RecordingSink> sinks = new ArrayList<>();
        long start = System.nanoTime();
        try {
            for (int w = 0; w < 32; w++) {
                engines.add(MockEngine.start(cfg.withModelName("rt-" + w)));
            }
            for (int w = 0; w < 32; w++) {
                for (int i = 0; i < 4; i++) {
                    int[] prompt = new int[64];
                    for (int k = 0; k < 64; k++) {
                        prompt[k] = w * 100 + i * 7 + k;
                    }
                    RecordingSink sink = new RecordingSink();
                    engines.get(w).submit(GenerateRequest.greedy("w" + w + "-" + i, prompt, 32), sink);
                    sinks.add(sink);
                }
            }
            for (RecordingSink s : sinks) {
                assertThat(s.finished.get(50, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
                assertThat(s.tokens).hasSize(32);
            }
            // one request alone needs a prefill step and 31 decode steps of at least 5.7 ms / 5 each
            long minNanos = Math.round(TimingProfile.DYNAMO.prefillMs(64 * 4) / 5 * 1e6 + 31 * 5.7 / 5 * 1e6);
            assertThat(System.nanoTime() - start).as("steps are paced in real time").isGreaterThanOrEqualTo(minNanos);
        } finally {
            engines.forEach(LlmEngine::close);
        }
    }
}
