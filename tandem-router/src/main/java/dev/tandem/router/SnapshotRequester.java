package dev.tandem.router;

/**
 * Asks a worker for a {@link dev.tandem.core.KvSnapshot} when the router missed some of its KV
 * events. The runtime implements it with an RPC and hands the answer to
 * {@link Router#onKvSnapshot}; a test or a replay driver may answer at once from inside the call.
 *
 * <p>Called without any router lock held, from whichever thread noticed the gap (an event
 * thread) or from {@link Router#doWork()} when an earlier request timed out. Must not block:
 * start the RPC and return. An exception is logged and the request is retried after
 * {@link RouterConfig#snapshotTimeoutMs()}.
 */
@FunctionalInterface
public interface SnapshotRequester {
    void requestSnapshot(String workerId);
}
