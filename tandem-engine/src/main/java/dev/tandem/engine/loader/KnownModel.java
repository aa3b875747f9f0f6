package dev.tandem.engine.loader;

import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * A model Tandem can download by name from Hugging Face, pinned by size and SHA-256.
 *
 * @param name      the name {@code --model} accepts, e.g. {@code stories260K}
 * @param repo      Hugging Face repository, e.g. {@code ggml-org/tiny-llamas}
 * @param file      file in the repository's {@code main} revision
 * @param sha256    lower-case hex SHA-256 of the file
 * @param sizeBytes file size
 */
public record KnownModel(String name, String repo, String file, String sha256, long sizeBytes) {
    public KnownModel {
        if (!sha256.matches("[0-9a-f]{64}") || sizeBytes <= 0) {
            throw new IllegalArgumentException("bad pin for " + name);
        }
    }

    /** The model commands use when {@code --model} is absent. */
    public static final String DEFAULT_NAME = "stories260K";

    public static final List<KnownModel> ALL = List.of(
            // Karpathy's llama2.c stories260K as converted by llama.cpp (its CI's test model).
            new KnownModel("stories260K", "ggml-org/tiny-llamas", "stories260K.gguf",
                    "270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d", 1_185_376));

    public static Optional<KnownModel> named(String name) {
        return ALL.stream().filter(m -> m.name.toLowerCase(Locale.ROOT).equals(name.toLowerCase(Locale.ROOT))).findFirst();
    }

    /** Path of the file under a Hugging Face endpoint: {@code /{repo}/resolve/main/{file}}. */
    public String resolvePath() {
        return "/" + repo + "/resolve/main/" + file;
    }
}
