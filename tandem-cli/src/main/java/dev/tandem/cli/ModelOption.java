package dev.tandem.cli;

import dev.tandem.engine.loader.KnownModel;
import dev.tandem.engine.loader.ModelResolver;
import picocli.CommandLine.Option;

/**
 * The {@code --model} option every command that loads a model shares (a picocli mixin:
 * {@code @Mixin ModelOption model;} then {@code model.resolve()}).
 */
public final class ModelOption {
    @Option(names = {"-m", "--model"}, paramLabel = "MODEL",
            description = {"a .gguf file, a Hugging Face model directory (config.json + *.safetensors +",
                "tokenizer.json), or a name looked up on TANDEM_MODEL_PATH, in the cache",
                "(~/.cache/tandem, TANDEM_CACHE_DIR) and downloaded if known (default: "
                        + KnownModel.DEFAULT_NAME + ")"})
    String model;

    /** The value given, or null for the default model. */
    public String value() {
        return model;
    }

    /** Resolves the option through this process's environment; prints download progress on stderr. */
    public ModelResolver.ResolvedModel resolve() {
        return ModelResolver.fromSystem().resolve(model);
    }
}
