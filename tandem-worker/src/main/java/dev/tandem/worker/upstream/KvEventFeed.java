package dev.tandem.worker.upstream;

import dev.tandem.core.KvEventListener;

/**
 * A server's own KV events, already in Tandem's block hashes (a subscriber to vLLM's or SGLang's
 * ZeroMQ publisher, say). Given one, an {@link UpstreamEngine} publishes these events instead of
 * its approximate ones.
 */
@FunctionalInterface
public interface KvEventFeed {
    /**
     * Starts delivering events to {@code listener}, in order, from one thread; closing the handle
     * stops it.
     */
    AutoCloseable start(KvEventListener listener);
}
