package dev.tandem.worker;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvHandle;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.Usage;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.PromptPin;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.runtime.rpc.PrefillService;
import dev.tandem.runtime.transfer.ReadGuard;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static java.lang.System.Logger.Level.DEBUG;
import static java.lang.System.Logger.Level.WARNING;

/**
 * The prefill worker's side of disaggregation: computes a prompt for a decode worker, samples
 * its first token, keeps the prompt's blocks pinned and hands out a {@link KvHandle} naming
 * them; answers the transfer plane's "may this puller read these blocks?" ({@link ReadGuard}).
 *
 * <h2>Design</h2>
 * A prefill is the engine's ordinary request with {@code maxTokens = 1}, submitted with a pin
 * listener: when it finishes, the engine pins the prompt's blocks ({@link PromptPin}) before it
 * reports the finish, so the blocks cannot be evicted or reused while a peer reads them. The
 * prompt reuses this engine's own prefix cache like any request. The pin's id is the handle id.
 * <p>
 * <b>Who owns the pin.</b> The engine holds and records it (its {@code PinTable}, which this
 * class's read guard asks too) until one of these happens, whichever is first:
 * <ul>
 *   <li>the decode worker releases it after its pull ({@link #release}, over the request plane
 *       or in-process), or the frontend does when the decode half never started;</li>
 *   <li>its TTL ({@code EngineConfig.pinTtlMs}, {@code --kv-handle-ttl}) passes: the engine
 *       drops it by itself, so a decode worker or frontend that died never leaks blocks;</li>
 *   <li>the caller cancels the prefill: before the finish the engine request is cancelled (no
 *       pin is made); after it, the pin is released at once.</li>
 * </ul>
 * The read guard refuses reads of a handle from {@value #GUARD_MARGIN_MS} ms before its expiry,
 * so a TCP or UCX read that starts in time finishes before the engine may reuse the blocks.
 * Shared-memory and in-process pulls read without asking; the puller bounds its deadline by the
 * handle's expiry instead (see {@link KvImporter}).
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. Sinks and the pin listener run on the engine thread; {@link #mayRead}
 * on transfer-server threads; {@link #release} on request-plane threads. The engine adds a pin
 * before its handle is published and drops it on release or expiry.
 *
 * <h2>References</h2>
 * NVIDIA Dynamo's prefill worker: "remote prefill" returns KV block ids plus the first token;
 * the decode worker reads them (NIXL) and notifies the prefill worker to free them.
 */
public final class PrefillServer implements PrefillService, ReadGuard {
    private static final System.Logger LOG = System.getLogger(PrefillServer.class.getName());
    /** Reads must start at least this long before a handle's expiry, ms. */
    static final long GUARD_MARGIN_MS = 1_000;
    /** Longest wait for the engine thread to release a pin, ms. */
    private static final long RELEASE_WAIT_MS = 5_000;

    private final String workerId;
    private final LlmEngine engine;
    private final DisaggMetrics metrics;
    /** Set once the transfer plane serves the pool (after construction); read by prefill calls. */
    private volatile List<TransferEndpoint> endpoints = List.of();

    public PrefillServer(String workerId, LlmEngine engine, DisaggMetrics metrics) {
        this.workerId = workerId;
        this.engine = engine;
        this.metrics = metrics;
    }

    /** The endpoints every handle carries (the worker's transfer plane's, best first). */
    public void endpoints(List<TransferEndpoint> serving) {
        this.endpoints = List.copyOf(serving);
    }

    @Override
    public CompletableFuture<PrefillResult> prefill(GenerateRequest request) {
        CompletableFuture<PrefillResult> result = new CompletableFuture<>();
        if (request.remotePrefill() != null) {
            result.completeExceptionally(new RequestException(RequestException.Kind.INVALID, "[req="
                    + request.requestId() + "] a prefill request must not carry a KV handle itself", "kv_handle", null));
            return result;
        }
        List<TransferEndpoint> eps = endpoints;
        if (eps.isEmpty() || engine.pool() == null) {
            result.completeExceptionally(new RequestException(RequestException.Kind.UNAVAILABLE, "worker " + workerId
                    + " has no KV pool that peers can pull from (simulated engine, or no transfer endpoint)"));
            return result;
        }
        PrefillCall call = new PrefillCall(request, result, eps);
        RequestHandle handle = engine.submit(request.withMaxTokens(1), call, call::pinned);
        result.whenComplete((r, t) -> {
            if (result.isCancelled()) {
                handle.cancel();
            }
        });
        return result;
    }

    /** The engine side of one prefill. Engine thread only, except for the result future. */
    private final class PrefillCall implements TokenSink {
        private final GenerateRequest request;
        private final CompletableFuture<PrefillResult> result;
        private final List<TransferEndpoint> eps;
        private GeneratedToken first;
        private PromptPin pin;

        PrefillCall(GenerateRequest request, CompletableFuture<PrefillResult> result, List<TransferEndpoint> eps) {
            this.request = request;
            this.result = result;
            this.eps = eps;
        }

        void pinned(PromptPin p) {
            pin = p;
        }

        @Override
        public void onToken(GeneratedToken token) {
            first = token;
        }

        @Override
        public void onFinish(FinishReason reason, Usage usage) {
            if (pin == null || first == null) {
                result.completeExceptionally(new RequestException(RequestException.Kind.CANCELLED,
                        "[req=" + request.requestId() + "] prefill on worker " + workerId + " was cancelled"));
                return;
            }
            long nowNanos = engine.clock().nanoTime();
            long expiresAtEpochMs = System.currentTimeMillis()
                    + TimeUnit.NANOSECONDS.toMillis(pin.expiresAtNanos() - nowNanos);
            // the engine's own hashes of the prompt's blocks: the prompt is not hashed again here
            KvHandle handle = new KvHandle(pin.pinId(), workerId, eps, pin.blockIds(), pin.sequenceHashes(),
                    request.promptLength(), engine.info().layout(), expiresAtEpochMs);
            if (result.complete(new PrefillResult(first, handle, usage))) {
                metrics.prefillServed();
            } else {
                // cancelled while the engine finished: nobody will pull these blocks
                releaseQuietly(pin.pinId());
            }
        }

        @Override
        public void onError(TandemException error) {
            result.completeExceptionally(error);
        }
    }

    @Override
    public boolean release(long handleId) {
        boolean released;
        try {
            released = engine.releasePin(handleId).get(RELEASE_WAIT_MS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RequestException(RequestException.Kind.CANCELLED, "release of handle " + handleId + " interrupted");
        } catch (ExecutionException | TimeoutException e) {
            throw new RequestException(RequestException.Kind.UNAVAILABLE, "worker " + workerId
                    + " could not release handle " + handleId + ": " + e, null, e);
        }
        if (released) {
            metrics.pinReleased();
        } else {
            LOG.log(DEBUG, "[worker={0}] handle {1} was released before or had expired", workerId, handleId);
        }
        return released;
    }

    private void releaseQuietly(long handleId) {
        engine.releasePin(handleId).whenComplete((ok, t) -> {
            if (t != null) {
                LOG.log(WARNING, "[worker={0}] releasing unused handle {1} failed: {2}", workerId, handleId, t);
            }
        });
    }

    @Override
    public boolean mayRead(long handleId, int firstBlock, int blockCount) {
        return engine.pinCovers(handleId, firstBlock, blockCount, TimeUnit.MILLISECONDS.toNanos(GUARD_MARGIN_MS));
    }

    /** Prompt pins this worker's engine holds and that have not expired. */
    public int activePins() {
        return engine.activePins();
    }
}
