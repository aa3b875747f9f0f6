package dev.tandem.core;

import java.util.Objects;

/**
 * A request cannot be served as given: the {@link Kind} tells a frontend which status to answer
 * (400 for {@code INVALID}, 503 for {@code UNAVAILABLE}, ...).
 */
public final class RequestException extends TandemException {
    /** Why a request failed, in the terms a client can act on. */
    public enum Kind {
        /** The request itself is wrong: bad value, prompt too long for the context, empty prompt. */
        INVALID,
        /** No worker (or no capacity) can serve it now; retrying later may succeed. */
        UNAVAILABLE,
        /** The admission queue is full. */
        OVERLOADED,
        /** The request was cancelled (client gone, or shutdown). */
        CANCELLED,
        /** A deadline passed. */
        TIMEOUT,
        /** A worker failed while serving it. */
        INTERNAL,
        /**
         * The worker could not be reached, or its connection dropped before the request finished
         * (the process died, the host went away). Nothing more will arrive from that worker; the
         * caller may re-issue the prompt plus the tokens already received on another worker.
         */
        WORKER_LOST
    }

    private final Kind kind;
    private final String param;

    public RequestException(Kind kind, String message) {
        this(kind, message, null, null);
    }

    public RequestException(Kind kind, String message, String param, Throwable cause) {
        super(message, cause);
        this.kind = Objects.requireNonNull(kind, "kind");
        this.param = param;
    }

    public Kind kind() {
        return kind;
    }

    /** The request field at fault, or null. */
    public String param() {
        return param;
    }
}
