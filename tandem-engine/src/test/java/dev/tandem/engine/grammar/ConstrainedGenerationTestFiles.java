package dev.tandem.engine.grammar;

import java.nio.file.Path;

/** Where the constrained-generation tests find stories260K, for tests in other packages. */
public final class ConstrainedGenerationTestFiles {
    private ConstrainedGenerationTestFiles() {
    }

    public static Path stories() {
        return ConstrainedGenerationTest.stories();
    }
}
