package dev.tandem.engine.mock;

import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.grammar.Grammars;

/**
 * Builds mock engines: the real block manager, prefix cache, scheduler and KV events over a
 * {@link MockModelRunner}, with step times from a {@link TimingProfile}. Clearly a simulation:
 * {@code info().simulated()} is true. Without a tokenizer's {@link Grammars} it refuses
 * constrained requests (400, "has no tokenizer to constrain the output with"); one built from a
 * model file (the mock workers of {@code tandem serve --mock} and the worker) masks its tokens. No KV memory is allocated, so dozens fit in one JVM.
 */
public final class MockEngine {
    private MockEngine() {
    }

    /** A mock engine on its own thread, in real time (steps sleep for their simulated duration). */
    public static LlmEngine start(MockConfig config) {
        return builder(config).build();
    }

    /**
     * A mock engine on its own thread that accepts constrained requests over a real model's
     * vocabulary: its pseudo tokens are masked by the constraint's grammar like a real model's
     * logits, so its output is valid for the constraint (and as meaningless as ever).
     */
    public static LlmEngine start(MockConfig config, Grammars grammars) {
        return builder(config).grammars(grammars).build();
    }

    /**
     * A mock engine on {@code clock}, driven by the caller (usually a {@link SimulationDriver}):
     * no thread, no sleeping, time moves only when the clock does.
     */
    public static LlmEngine driven(MockConfig config, VirtualClock clock) {
        return builder(config).clock(clock).driven().build();
    }

    private static LlmEngine.Builder builder(MockConfig config) {
        return LlmEngine.builder(config.modelName(), new MockModelRunner(config.vocabSize(), config.contextLength(), config.seed()))
                .config(config.engine())
                .promptVocabSize(Integer.MAX_VALUE)
                .stepTiming(config.timing())
                .simulated(true)
                .withoutPool();
    }
}
