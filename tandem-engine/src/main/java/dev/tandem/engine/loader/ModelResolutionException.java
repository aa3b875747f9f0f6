package dev.tandem.engine.loader;

import dev.tandem.core.TandemException;

/**
 * A {@code --model} value names nothing Tandem can find or fetch: no such file, an unknown name,
 * or a download that failed or did not verify. The message says where Tandem looked or what went
 * wrong; a file that exists but is malformed is a {@link dev.tandem.core.ModelFormatException}.
 */
public final class ModelResolutionException extends TandemException {
    public ModelResolutionException(String message) {
        super(message);
    }

    public ModelResolutionException(String message, Throwable cause) {
        super(message, cause);
    }
}
