package dev.tandem.frontend;

import dev.tandem.engine.LoadedModel;
import dev.tandem.engine.tokenizer.ChatTemplate;
import dev.tandem.frontend.text.TokenizerTextModel;
import java.nio.file.Path;

/**
 * The frontend's view of a GGUF model opened in this process: its name, tokenizer and chat
 * template ({@link #served()}). Engines over the same weights are the workers' business
 * ({@link LoadedModel#startEngine}); {@code tandem serve} shares one {@link LoadedModel} between
 * both.
 *
 * <p>Owns the mapped file when it opened it ({@link #open}); close it after the engines made from
 * it.
 */
public final class LocalModel implements AutoCloseable {
    private final LoadedModel model;
    private final boolean owns;
    private final TokenizerTextModel text;

    private LocalModel(LoadedModel model, boolean owns) {
        this.model = model;
        this.owns = owns;
        this.text = new TokenizerTextModel(model.tokenizer(), ChatTemplate.forModel(model.gguf(), model.tokenizer()));
    }

    /**
     * Opens a model file.
     *
     * @param name the model name clients use; null for the file name without {@code .gguf}
     */
    public static LocalModel open(Path file, String name) {
        LoadedModel model = LoadedModel.open(file, name);
        try {
            return new LocalModel(model, true);
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** The frontend's view of {@code model}, which stays its opener's to close. */
    public static LocalModel of(LoadedModel model) {
        return new LocalModel(model, false);
    }

    public String name() {
        return model.name();
    }

    /** The model file as opened: weights, tokenizer, shape. */
    public LoadedModel model() {
        return model;
    }

    /** What the frontend needs to serve this model. */
    public ServedModel served() {
        return new ServedModel(model.name(), text);
    }

    @Override
    public void close() {
        if (owns) {
            model.close();
        }
    }
}
