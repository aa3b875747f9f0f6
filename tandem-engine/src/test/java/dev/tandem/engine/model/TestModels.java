package dev.tandem.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Where tests find ../shared/models and ../shared/reference. */
final class TestModels {
    private TestModels() {
    }

    static Path modelDir() {
        String prop = System.getProperty("tandem.test.models");
        if (prop != null && Files.isDirectory(Path.of(prop))) {
            return Path.of(prop);
        }
        String env = System.getenv("TANDEM_MODEL_PATH");
        if (env != null) {
            for (String dir : env.split(java.io.File.pathSeparator)) {
                if (Files.isDirectory(Path.of(dir))) {
                    return Path.of(dir);
                }
            }
        }
        return Path.of("/work/main/../shared/models");
    }

    static Path stories260K() {
        return modelDir().resolve("stories260K.gguf");
    }

    static JsonNode reference(String name) {
        Path file = Path.of(System.getProperty("tandem.test.shared", "/nonexistent"), "reference", name);
        if (!Files.exists(file)) {
            file = modelDir().resolve("../reference").resolve(name).normalize();
        }
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }
}
