package dev.tandem.engine.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.engine.gguf.GgufFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/** Test models and llama.cpp reference files, found as the build's system properties say. */
final class TestFiles {
    private static final Map<String, Tokenizer> TOKENIZERS = new HashMap<>();
    private static final Map<String, JsonNode> JSON = new HashMap<>();

    private TestFiles() {
    }

    /** The first existing folder of: -Dtandem.test.models, TANDEM_MODEL_PATH, /work/main/../shared/models. */
    static Path models() {
        for (String dir : new String[] {System.getProperty("tandem.test.models"), System.getenv("TANDEM_MODEL_PATH")}) {
            if (dir != null && Files.isDirectory(Path.of(dir))) {
                return Path.of(dir);
            }
        }
        return Path.of("/work/main/../shared/models");
    }

    /** A reference file: ../shared/reference next to the models folder, else -Dtandem.test.shared. */
    static Path reference(String name) {
        Path next = models().resolveSibling("reference").resolve(name);
        String shared = System.getProperty("tandem.test.shared");
        return Files.exists(next) || shared == null ? next : Path.of(shared, "reference", name);
    }

    /** The tokenizer of a test model, loaded once per test run (the file stays mapped). */
    static synchronized Tokenizer tokenizer(String modelFile) {
        return TOKENIZERS.computeIfAbsent(modelFile, f -> {
            GgufFile gguf = GgufFile.open(models().resolve(f));
            return Tokenizer.fromGguf(gguf);
        });
    }

    static synchronized JsonNode json(String referenceFile) {
        return JSON.computeIfAbsent(referenceFile, f -> {
            try {
                return new ObjectMapper().readTree(Files.readAllBytes(reference(f)));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    static byte[] hex(String hex) {
        return HexFormat.of().parseHex(hex);
    }
}
