package dev.tandem.core;

/** Bytes received from a peer do not decode: unknown type code, bad version, short frame. */
public final class ProtocolException extends TandemException {
    public ProtocolException(String message) {
        super(message);
    }

    public ProtocolException(String message, Throwable cause) {
        super(message, cause);
    }
}
