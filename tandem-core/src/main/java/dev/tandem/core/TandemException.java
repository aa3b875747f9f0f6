package dev.tandem.core;

/**
 * Base of every exception Tandem throws on purpose. Unchecked; the message names the offending
 * values so that a user can act on it without a stack trace.
 */
public class TandemException extends RuntimeException {
    public TandemException(String message) {
        super(message);
    }

    public TandemException(String message, Throwable cause) {
        super(message, cause);
    }
}
