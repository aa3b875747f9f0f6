package dev.tandem.cli;

import dev.tandem.core.ConfigException;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds a model file from what a user typed: a path to a {@code .gguf} file, or a name looked up
 * (as {@code NAME} or {@code NAME.gguf}) in the folders of {@code TANDEM_MODEL_PATH}, then in
 * {@code ~/.cache/tandem}.
 */
final class ModelFiles {
    static final String DEFAULT_MODEL = "stories260K";

    private ModelFiles() {
    }

    static Path resolve(String model) {
        Path direct = Path.of(model);
        if (Files.isRegularFile(direct)) {
            return direct;
        }
        List<Path> searched = new ArrayList<>();
        for (Path dir : searchPath()) {
            for (String candidate : List.of(model, model + ".gguf")) {
                Path p = dir.resolve(candidate);
                if (Files.isRegularFile(p)) {
                    return p;
                }
            }
            searched.add(dir);
        }
        throw new ConfigException("model '" + model + "' not found: not a file, and not in " + searched
                + " (set TANDEM_MODEL_PATH to the folder that holds it, or pass a path to a .gguf file)");
    }

    private static List<Path> searchPath() {
        List<Path> dirs = new ArrayList<>();
        String env = System.getenv("TANDEM_MODEL_PATH");
        if (env != null) {
            for (String d : env.split(File.pathSeparator)) {
                if (!d.isBlank()) {
                    dirs.add(Path.of(d));
                }
            }
        }
        dirs.add(Path.of(System.getProperty("user.home"), ".cache", "tandem"));
        return dirs;
    }
}
