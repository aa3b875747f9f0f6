package dev.tandem.worker;

import dev.tandem.core.Engine;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LoadedModel;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.grammar.Grammars;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.model.ModelConfig;
import dev.tandem.worker.upstream.KvEventFeed;
import dev.tandem.worker.upstream.UpstreamConfig;
import dev.tandem.worker.upstream.UpstreamEngine;
import java.nio.file.Path;

/**
 * Where a worker's engines come from: the seam a new kind of worker plugs into. Tandem's own
 * engine over a GGUF model ({@link #model}), the mock engine ({@link #mock}: real block
 * accounting and KV events, simulated step times) and an external server reached over HTTP
 * ({@link #upstream}: llama-server, vLLM, SGLang, any OpenAI-compatible server) are the kinds
 * there are. {@link LocalWorker} adds the disaggregation sides only to Tandem's own engine
 * ({@link dev.tandem.engine.LlmEngine}); any other engine serves whole requests.
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
        return new ModelSource(model, owns) {
            @Override
            public Engine start(EngineConfig config, int threads, Path poolFile) {
                return model.startEngine(config, threads, poolFile);
            }

            @Override
            public boolean holdsKv() {
                return true;
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

    /**
     * A client of the server at {@code upstream} serving {@code model} (whose tokenizer the
     * frontend uses; its shape gives the KV layout the router hashes at, and it re-tokenises text
     * from servers that answer no token ids). Each {@link #start} reaches the server and returns
     * an {@link UpstreamEngine}; the pool file and thread count mean nothing to it.
     *
     * @param feed the server's own KV events, or null for approximate ones
     * @param owns close {@code model} with this source
     */
    static EngineSource upstream(LoadedModel model, boolean owns, UpstreamConfig upstream, KvEventFeed feed) {
        return new ModelSource(model, owns) {
            @Override
            public Engine start(EngineConfig config, int threads, Path poolFile) {
                ModelConfig shape = model.config();
                UpstreamEngine.Model m = new UpstreamEngine.Model(model.name(),
                        shape.kvLayout(config.blockSizeTokens(), config.kvDtype()), model.tokenizer().vocabSize(),
                        shape.contextLength(), text -> model.tokenizer().encode(text, false, false));
                return UpstreamEngine.start(upstream, m, new UpstreamEngine.Limits(config.maxSequences(),
                        config.maxBatchTokens(), config.kvBlocks()), feed);
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
