package dev.tandem.core;

/** A configuration value or command-line option is invalid. Thrown at startup, before any work. */
public final class ConfigException extends TandemException {
    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }
}
