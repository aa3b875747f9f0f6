package dev.tandem.cli;

import dev.tandem.core.ConfigException;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;

/** Finds a model file: a path, or a name looked up in the TANDEM_MODEL_PATH folders. */
final class ModelPaths {
    /** The model commands use when {@code --model} is not given. */
    static final String DEFAULT_MODEL = "stories260K";

    private ModelPaths() {
    }

    static Path resolve(String model) {
        String name = model == null ? DEFAULT_MODEL : model;
        Path direct = Path.of(name);
        if (Files.isRegularFile(direct)) {
            return direct;
        }
        String env = System.getenv("TANDEM_MODEL_PATH");
        if (env != null && !direct.isAbsolute()) {
            for (String dir : env.split(File.pathSeparator)) {
                for (String candidate : new String[] {name, name + ".gguf"}) {
                    Path p = Path.of(dir, candidate);
                    if (Files.isRegularFile(p)) {
                        return p;
                    }
                }
            }
        }
        throw new ConfigException("model '" + name + "' not found: not a file, and not in TANDEM_MODEL_PATH ("
                + (env == null ? "unset" : env) + ")");
    }
}
