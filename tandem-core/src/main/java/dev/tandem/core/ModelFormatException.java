package dev.tandem.core;

/** A model file is truncated, malformed, or uses something Tandem does not support. */
public final class ModelFormatException extends TandemException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
