package dev.tandem.core;

/** A submitted request. Safe for concurrent use. */
public interface RequestHandle {
    String requestId();

    /**
     * Stops the request: its blocks are released within one engine step and its sink receives
     * {@code onFinish(CANCELLED, ...)} unless it already finished. Idempotent.
     */
    void cancel();
}
