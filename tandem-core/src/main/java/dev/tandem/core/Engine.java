package dev.tandem.core;

/**
 * A serving engine: the one interface the rest of Tandem uses to run requests, whether the
 * engine is the real transformer or the mock (timing model), in this process or remote.
 *
 * <p>Safe for concurrent use: any thread may submit, cancel, read load or subscribe. Output
 * arrives on each request's {@link TokenSink} from the engine's own thread.
 */
public interface Engine extends AutoCloseable {

    EngineInfo info();

    /**
     * Queues a request. Never blocks on the model. A request that can never fit (prompt plus
     * {@code maxTokens} beyond the context, or more blocks than the pool holds) fails at once
     * with a {@link RequestException} of kind {@code INVALID}.
     */
    RequestHandle submit(GenerateRequest request, TokenSink sink);

    /** The current load. Cheap; safe to call often. */
    LoadReport load();

    /**
     * Registers a listener for KV events from now on; closing the returned handle removes it.
     * The listener is called from the engine thread and must not block.
     */
    AutoCloseable subscribe(KvEventListener listener);

    /** Everything the prefix cache holds, consistent with the event numbering. */
    KvSnapshot kvSnapshot();

    /** Stops the engine: running requests are cancelled, the pool is released. Idempotent. */
    @Override
    void close();
}
