package dev.tandem.core;

/**
 * Receives a request's output. Called from the engine's scheduler thread, in order: any number
 * of {@link #onToken}, then exactly one of {@link #onFinish} or {@link #onError}.
 *
 * <p>Implementations must return quickly and never block: hand the data to another thread.
 * An exception thrown by a sink is caught by the engine and cancels that request only.
 */
public interface TokenSink {
    void onToken(GeneratedToken token);

    void onFinish(FinishReason reason, Usage usage);

    void onError(TandemException error);
}
