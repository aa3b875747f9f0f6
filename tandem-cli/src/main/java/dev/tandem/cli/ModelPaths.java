package dev.tandem.cli;

import dev.tandem.engine.loader.KnownModel;
import dev.tandem.engine.loader.ModelResolver;
import java.nio.file.Path;

/**
 * Finds a model file for {@code --model}: through {@link ModelResolver} (a path, a Hugging Face
 * directory, a name on TANDEM_MODEL_PATH or in the cache, or a known name downloaded).
 */
final class ModelPaths {
    /** The model commands use when {@code --model} is not given. */
    static final String DEFAULT_MODEL = KnownModel.DEFAULT_NAME;

    private ModelPaths() {
    }

    static Path resolve(String model) {
        return ModelResolver.fromSystem().resolve(model).path();
    }
}
