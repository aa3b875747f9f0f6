package dev.tandem.bench;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds ../shared: the build's tandem.test.shared, else the parent of the models folder. */
final class TestPaths {
    private TestPaths() {
    }

    static Path shared() {
        String shared = System.getProperty("tandem.test.shared");
        if (shared != null && Files.isDirectory(Path.of(shared))) {
            return Path.of(shared);
        }
        String models = System.getProperty("tandem.test.models", System.getenv("TANDEM_MODEL_PATH"));
        return models == null ? Path.of("../shared") : Path.of(models).toAbsolutePath().getParent();
    }
}
