package dev.tandem.worker;

import dev.tandem.core.Engine;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LoadedModel;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.grammar.Grammars;
import dev.tandem.engine.mock.MockEngine;
import java.nio.file.Path;

/**
 * Where a worker's engines come from: the seam a new kind of worker plugs into. Tandem's own
 * engine over a GGUF model ({@link #model}) and the mock engine ({@link #mock}: real block
 * accounting and KV events, simulated step times) are the kinds there are; an engine in another
 * process (an upstream server reached over HTTP, say) would be a third implementation returning
 * its client as the {@link Engine}. {@link LocalWorker} adds the disaggregation sides only to
 * Tandem's own engine ({@link dev.tandem.engine.LlmEngine}); any other engine serves whole
 * requests.
 *
 * <p>Safe for concurrent use: each call starts an independent engine.
 */
public interface EngineSource extends AutoCloseable {

    /** The name clients use for the model. */
    String modelName();

    /**
     * Starts one engine on its own thread.
     *
     * @param threads  kernel threads of its forward passes (ignored where nothing is computed)
     * @param poolFile where the KV pool lives so same-host peers can map it, or null for anonymous
     *                 memory; only asked for when {@link #holdsKv()}
     */
    Engine start(EngineConfig config, int threads, Path poolFile);

    /** Whether its engines keep KV blocks a peer could pull (so a pool file means something). */
    boolean holdsKv();

    /** Releases what the source holds (a mapped model file); its engines are closed first. */
    @Override
    default void close() {
    }

    /**
     * Tandem's engine over {@code model}, whose weights every engine shares.
     *
     * @param owns close {@code model} with this source
     */
    static EngineSource model(LoadedModel model, boolean owns) {
        return new EngineSource() {
            @Override
            public String modelName() {
                return model.name();
            }

            @Override
            public Engine start(EngineConfig config, int threads, Path poolFile) {
                return model.startEngine(config, threads, poolFile);
            }

            @Override
            public boolean holdsKv() {
                return true;
            }

            @Override
            public void close() {
                if (owns) {
                    model.close();
                }
            }
        };
    }

    /**
     * The mock engine with {@code model}'s name, vocabulary size and context length (read now;
     * the model is not kept), its step times divided by {@code speedup}; constrained requests are
     * masked over the model's vocabulary.
     */
    static EngineSource mock(LoadedModel model, double speedup) {
        MockConfig shape = MockConfig.DEFAULT.withModelName(model.name())
                .withVocabSize(model.tokenizer().vocabSize())
                .withContextLength(model.config().contextLength());
        Grammars grammars = model.grammars(); // token bytes only: kept after the model file closes
        return new EngineSource() {
            @Override
            public String modelName() {
                return shape.modelName();
            }

            @Override
            public Engine start(EngineConfig config, int threads, Path poolFile) {
                EngineConfig engine = config.kvBlocks() > 0 ? config : config.withKvBlocks(MockConfig.DEFAULT_KV_BLOCKS);
                return MockEngine.start(shape.withEngine(engine).withTiming(config.mockTiming().withSpeedup(speedup)),
                        grammars);
            }

            @Override
            public boolean holdsKv() {
                return false;
            }
        };
    }

    /** The source a worker spec asks for, owning the model file it opens (a mock closes it at once). */
    static EngineSource open(Path modelFile, String modelName, boolean mock, double mockSpeedup) {
        LoadedModel model = LoadedModel.open(modelFile, modelName);
        if (!mock) {
            return model(model, true);
        }
        try (model) {
            return mock(model, mockSpeedup);
        }
    }
}
