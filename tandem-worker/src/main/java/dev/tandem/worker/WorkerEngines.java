package dev.tandem.worker;

import dev.tandem.core.KvLayout;
import dev.tandem.core.TransferKind;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.grammar.Grammars;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.model.ModelConfig;
import dev.tandem.engine.model.Transformer;
import dev.tandem.engine.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.IntStream;

/**
 * Builds a worker's engine from its {@link WorkerSpec}: the real transformer over the GGUF file,
 * or the mock engine (real block accounting and KV events, simulated step times).
 *
 * <p>A real engine whose worker serves KV over shared memory keeps its pool in a file under
 * {@code /dev/shm}, so that a decode worker on the same host can map it; the engine deletes the
 * file when it closes (a killed process leaves it behind).
 */
final class WorkerEngines {
    /** Where same-host KV pools live. */
    static final Path SHM_DIR = Path.of("/dev/shm");

    private WorkerEngines() {
    }

    /**
     * @param poolFile where a real engine keeps its KV pool ({@link #sharedPoolFile}), or null
     *                 for anonymous memory
     */
    static LlmEngine start(WorkerSpec spec, Path poolFile) {
        return spec.mock() ? startMock(spec) : startReal(spec, poolFile);
    }

    private static LlmEngine startReal(WorkerSpec spec, Path poolFile) {
        EngineConfig config = spec.engine();
        GgufFile gguf = GgufFile.open(spec.modelFile());
        KvPool pool = null;
        try {
            Tokenizer tokenizer = Tokenizer.fromGguf(gguf);
            int[] eos = IntStream.range(0, tokenizer.vocabSize()).filter(tokenizer::isEndOfGeneration).toArray();
            Transformer transformer = new Transformer(gguf, config.maxBatchTokens(), spec.threads());
            ModelConfig mc = transformer.config();
            LlmEngine.Builder builder = LlmEngine.builder(spec.modelName(), transformer).config(config)
                    .kvShape(mc.layerCount(), mc.kvHeadCount(), mc.headDim())
                    .eosTokenIds(eos)
                    .grammars(Grammars.forTokenizer(tokenizer, eos))
                    .closeAlso(gguf);
            if (poolFile != null) {
                KvLayout layout = new KvLayout(config.blockSizeTokens(), mc.layerCount(), mc.kvHeadCount(), mc.headDim(),
                        config.kvDtype());
                pool = KvPool.mapFile(layout, config.resolveBlockCount(layout), poolFile);
                builder.pool(pool);
            }
            return builder.build();
        } catch (RuntimeException e) {
            if (pool != null) {
                pool.close();
            }
            gguf.close();
            throw e;
        }
    }

    private static LlmEngine startMock(WorkerSpec spec) {
        int vocabSize;
        int contextLength;
        try (GgufFile gguf = GgufFile.open(spec.modelFile())) {
            vocabSize = Tokenizer.fromGguf(gguf).vocabSize();
            contextLength = ModelConfig.from(gguf).contextLength();
        }
        EngineConfig engine = spec.engine().kvBlocks() > 0 ? spec.engine()
                : spec.engine().withKvBlocks(MockConfig.DEFAULT_KV_BLOCKS);
        MockConfig mc = MockConfig.DEFAULT.withModelName(spec.modelName())
                .withVocabSize(vocabSize)
                .withContextLength(contextLength)
                .withEngine(engine)
                .withTiming(spec.engine().mockTiming().withSpeedup(spec.mockSpeedup()));
        return MockEngine.start(mc);
    }

    /** The pool file for a real worker that serves shared memory, or null for an anonymous pool. */
    static Path sharedPoolFile(WorkerSpec spec) {
        if (spec.mock() || !spec.transferKinds().contains(TransferKind.SHM) || !Files.isDirectory(SHM_DIR)
                || !Files.isWritable(SHM_DIR)) {
            return null;
        }
        return SHM_DIR.resolve("tandem-kv-" + spec.instanceId() + ".pool");
    }
}
