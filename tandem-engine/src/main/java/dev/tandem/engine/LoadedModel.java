package dev.tandem.engine;

import dev.tandem.core.KvLayout;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.grammar.Grammars;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.model.ModelConfig;
import dev.tandem.engine.model.Transformer;
import dev.tandem.engine.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.stream.IntStream;

/**
 * A GGUF model opened once in this process: its tokenizer, its end-of-generation ids, its shape,
 * and as many engines over its weights as wanted. The weights are memory-mapped once and shared;
 * each engine has its own transformer scratch, KV pool and scheduler thread. The one place an
 * engine is built from a model file ({@link LlmEngine#open}, the workers, {@code tandem serve}).
 *
 * <p>Owns the mapped file: close it after every engine made from it is closed (or hand it to
 * the only engine with {@link LlmEngine.Builder#closeAlso}).
 */
public final class LoadedModel implements AutoCloseable {
    private final GgufFile gguf;
    private final String name;
    private final Tokenizer tokenizer;
    private final int[] endOfGenerationIds;
    /** Shared by this model's engines: one mask cache per output constraint. */
    private final Grammars grammars;

    private LoadedModel(GgufFile gguf, String name) {
        this.gguf = gguf;
        this.name = name;
        this.tokenizer = Tokenizer.fromGguf(gguf);
        this.endOfGenerationIds = IntStream.range(0, tokenizer.vocabSize()).filter(tokenizer::isEndOfGeneration)
                .toArray();
        this.grammars = Grammars.forTokenizer(tokenizer, endOfGenerationIds);
    }

    /**
     * Opens a model file.
     *
     * @param name the model name clients use; null for the file name without {@code .gguf}
     * @throws dev.tandem.core.ModelFormatException if the file is not a usable model
     */
    public static LoadedModel open(Path file, String name) {
        GgufFile gguf = GgufFile.open(file);
        try {
            return new LoadedModel(gguf, name != null ? name : nameOf(file));
        } catch (RuntimeException e) {
            gguf.close();
            throw e;
        }
    }

    /** The file name without its {@code .gguf} extension (any case). */
    public static String nameOf(Path file) {
        return file.getFileName().toString().replaceFirst("(?i)\\.gguf$", "");
    }

    public String name() {
        return name;
    }

    public GgufFile gguf() {
        return gguf;
    }

    /** Constrained decoding over this model's vocabulary (shared by its engines, mock ones too). */
    public Grammars grammars() {
        return grammars;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The model's shape. */
    public ModelConfig config() {
        return ModelConfig.from(gguf);
    }

    /**
     * A builder of one engine over the model: the transformer with {@code threads} kernel threads
     * (the scheduler thread included), the model's K/V shape and end-of-generation ids.
     *
     * @param poolFile where the KV pool lives (under /dev/shm, so peers can map it; the engine
     *                 deletes the file when it closes), or null for anonymous memory
     */
    public LlmEngine.Builder engineBuilder(EngineConfig config, int threads, Path poolFile) {
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
        return b;
    }

    /** Starts one engine over the model on its own scheduler thread; see {@link #engineBuilder}. */
    public LlmEngine startEngine(EngineConfig config, int threads, Path poolFile) {
        return engineBuilder(config, threads, poolFile).build();
    }

    @Override
    public void close() {
        gguf.close();
    }
}
