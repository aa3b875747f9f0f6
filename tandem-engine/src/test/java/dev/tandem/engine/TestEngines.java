package dev.tandem.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.KvDtype;
import dev.tandem.engine.mock.VirtualClock;

/** Builds small driven engines over {@link HistoryModelRunner} for tests. */
final class TestEngines {
    static final int BLOCK_SIZE = 4;

    private TestEngines() {
    }

    static EngineConfig config(int blocks, int maxBatchTokens, int maxSequences) {
        return EngineConfig.DEFAULT.withBlockSizeTokens(BLOCK_SIZE).withKvDtype(KvDtype.F32).withKvBlocks(blocks)
                .withBatchLimits(maxBatchTokens, maxSequences);
    }

    static LlmEngine driven(HistoryModelRunner runner, EngineConfig config, VirtualClock clock, int... eos) {
        return LlmEngine.builder("test", runner).config(config).kvShape(1, 1, HistoryModelRunner.HEAD_DIM)
                .clock(clock).eosTokenIds(eos).driven().build();
    }

    /** Runs the engine until idle, checking invariants after every turn; returns the turns taken. */
    static int runToIdle(LlmEngine engine) {
        int turns = 0;
        while (!engine.isIdle()) {
            engine.doWork();
            engine.checkInvariants();
            if (++turns > 100_000) {
                throw new AssertionError("engine did not become idle");
            }
        }
        return turns;
    }

    static int[] prompt(int seed, int length, int vocab) {
        int[] p = new int[length];
        long z = seed * 0x9E3779B97F4A7C15L + 1;
        for (int i = 0; i < length; i++) {
            z = z * 6364136223846793005L + 1442695040888963407L;
            p[i] = (int) Long.remainderUnsigned(z >>> 17, vocab);
        }
        return p;
    }

    static void assertAllBlocksReturned(LlmEngine engine) {
        assertThat(engine.load().activeBlocks()).as("active blocks after all requests ended").isZero();
        var bm = engine.scheduler().blockManager();
        assertThat(bm.freeBlocks() + bm.cachedBlocks()).isEqualTo(bm.totalBlocks());
    }
}
