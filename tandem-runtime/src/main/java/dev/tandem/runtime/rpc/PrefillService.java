package dev.tandem.runtime.rpc;

import dev.tandem.core.GenerateRequest;
import dev.tandem.core.PrefillResult;
import java.util.concurrent.CompletableFuture;

/**
 * Prefill for another worker: compute a prompt, sample its first token and keep the prompt's KV
 * blocks pinned until the decode worker has pulled them. A worker that offers it passes one to
 * {@link WorkerRpcServer}; {@link RemoteEngine} implements it over the request plane.
 *
 * <p>Safe for concurrent use.
 */
public interface PrefillService {

    /**
     * Starts a prefill. Cancelling the returned future cancels the prefill (and frees its blocks).
     * The future fails with a {@link dev.tandem.core.RequestException} when the request is
     * invalid or cannot be served.
     */
    CompletableFuture<PrefillResult> prefill(GenerateRequest request);

    /**
     * Unpins the blocks of a handle. Idempotent.
     *
     * @return false when the handle is unknown (already released, or expired)
     */
    boolean release(long handleId);
}
