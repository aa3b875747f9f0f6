package dev.tandem.frontend;

import dev.tandem.core.KvLayout;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.grammar.Grammars;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.model.ModelConfig;
import dev.tandem.engine.model.Transformer;
import dev.tandem.engine.tokenizer.Tokenizer;
import dev.tandem.frontend.text.TokenizerTextModel;
import java.nio.file.Path;
import java.util.stream.IntStream;

/**
 * A GGUF model opened once in this process: its tokenizer for the frontend, and as many engines
 * (workers) over its weights as wanted. The weights are memory-mapped once and shared; each
 * engine has its own transformer scratch, KV pool and scheduler thread.
 *
 * <p>Owns the mapped file: close it after every engine made from it is closed.
 */
public final class LocalModel implements AutoCloseable {
    private final GgufFile gguf;
    private final String name;
    private final TokenizerTextModel text;
    private final int[] endOfGenerationIds;
    private final Grammars grammars; // shared by this model's engines: one mask cache per constraint

    private LocalModel(GgufFile gguf, String name) {
        this.gguf = gguf;
        this.name = name;
        this.text = TokenizerTextModel.fromGguf(gguf);
        Tokenizer t = text.tokenizer();
        this.endOfGenerationIds = IntStream.range(0, t.vocabSize()).filter(t::isEndOfGeneration).toArray();
        this.grammars = Grammars.forTokenizer(t, endOfGenerationIds);
    }

    /**
     * Opens a model file.
     *
     * @param name the model name clients use; null for the file name without {@code .gguf}
     */
    public static LocalModel open(Path file, String name) {
        GgufFile gguf = GgufFile.open(file);
        try {
            String n = name != null ? name : file.getFileName().toString().replaceFirst("(?i)\\.gguf$", "");
            return new LocalModel(gguf, n);
        } catch (RuntimeException e) {
            gguf.close();
            throw e;
        }
    }

    public String name() {
        return name;
    }

    /** What the frontend needs to serve this model. */
    public ServedModel served() {
        return new ServedModel(name, text);
    }

    /** The model's shape. */
    public ModelConfig config() {
        return ModelConfig.from(gguf);
    }

    /**
     * Starts one engine over the model on its own scheduler thread.
     *
     * @param threads kernel threads for its forward passes (the scheduler thread included)
     */
    public LlmEngine startEngine(EngineConfig config, int threads) {
        return startEngine(config, threads, null);
    }

    /**
     * As {@link #startEngine(EngineConfig, int)}, with the KV pool in {@code poolFile} (under
     * /dev/shm, so peers can map it), or in anonymous memory when it is null. The engine deletes
     * the file when it closes.
     */
    public LlmEngine startEngine(EngineConfig config, int threads, Path poolFile) {
        Transformer runner = new Transformer(gguf, config.maxBatchTokens(), threads);
        ModelConfig mc = runner.config();
        LlmEngine.Builder b = LlmEngine.builder(name, runner)
                .config(config)
                .kvShape(mc.layerCount(), mc.kvHeadCount(), mc.headDim())
                .eosTokenIds(endOfGenerationIds)
                .grammars(grammars);
        if (poolFile != null) {
            KvLayout layout = new KvLayout(config.blockSizeTokens(), mc.layerCount(), mc.kvHeadCount(), mc.headDim(),
                    config.kvDtype());
            b.pool(KvPool.mapFile(layout, config.resolveBlockCount(layout), poolFile));
        }
        return b.build();
    }

    @Override
    public void close() {
        gguf.close();
    }
}
