package dev.tandem.worker;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvHandle;
import dev.tandem.core.RemotePrefill;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.engine.ImportReservation;
import dev.tandem.engine.LlmEngine;
import dev.tandem.runtime.PrefillFallback;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.runtime.transfer.Deadline;
import dev.tandem.runtime.transfer.KvMemory;
import dev.tandem.runtime.transfer.TransferPlane;
import dev.tandem.runtime.transfer.TransferResult;
import java.util.Arrays;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static java.lang.System.Logger.Level.DEBUG;
import static java.lang.System.Logger.Level.WARNING;

/**
 * The decode worker's side of disaggregation: continues a request whose prompt a prefill worker
 * computed ({@link RemotePrefill}), pulling only the KV blocks this worker's own prefix cache
 * lacks.
 *
 * <h2>Design</h2>
 * One import, on its own virtual thread ("tandem-kv-import-REQ"), so that {@link #submit} never
 * blocks its caller (an HTTP or gRPC thread) and the engine thread never waits on the network:
 * <ol>
 *   <li>reserve blocks for the prompt ({@link LlmEngine#reserveImport}): the leading blocks this
 *       engine has cached are reused, the rest are allocated and held for the import;</li>
 *   <li>pull the handle's blocks from the first uncached one on through the {@link TransferPlane}
 *       (local in one JVM, shm on one host, tcp otherwise), by a deadline that is the earlier of
 *       {@code transferTimeoutMs} and the handle's expiry less a margin;</li>
 *   <li>stream the prefill worker's first token, start decoding from it
 *       ({@link LlmEngine#startImported}), then release the prefill worker's pin
 *       ({@link PinReleaser}) on the same virtual thread, off the request's critical path.</li>
 * </ol>
 *
 * <h2>Failures</h2>
 * Every failure before the decode starts is a fallback: the reservation is cancelled (its blocks
 * return to the pool), the pin is released (or left to expire if the prefill worker is gone),
 * and the request is submitted to this engine as an ordinary one, so it prefills locally and
 * still succeeds, counted in {@code tandem_disagg_fallbacks_total{reason}}:
 * {@code decode_no_room} (no free blocks or sequence slot for the reservation),
 * {@code handle_mismatch} (the handle does not describe this prompt in this pool's block size),
 * {@code handle_foreign} (blocks an external engine moves itself, vLLM's NixlConnector),
 * {@code transfer_<reason>} (the pull failed: unreachable, deadline, peer failed, layout
 * mismatch, expired, ...). The client has seen nothing yet at that point, so the local prefill
 * samples its own first token and the stream stays one stream. When the request says remote
 * prefill is required, the fallback is instead an UNAVAILABLE error (the frontend answers 503).
 * The rule is the frontend's too: {@code PrefillFallback} (runtime).
 * A cancel before the start cancels the reservation and releases the pin; the sink gets
 * {@code onFinish(CANCELLED)}.
 *
 * <h2>Concurrency</h2>
 * {@link #submit} from any thread. Each import's state belongs to its virtual thread except the
 * {@code cancelled} flag and the started handle, which {@link RequestHandle#cancel()} reads from
 * any thread (both volatile; whoever sees both set cancels the started request).
 */
final class KvImporter {
    private static final System.Logger LOG = System.getLogger(KvImporter.class.getName());
    /** A pull must end this long before the handle expires (the prefill worker may reuse the blocks then), ms. */
    static final long EXPIRY_MARGIN_MS = 2 * PrefillServer.GUARD_MARGIN_MS;
    /** Longest wait for the engine thread to answer a reservation, ms. */
    private static final long RESERVE_WAIT_MS = 30_000;

    private final String workerId;
    private final LlmEngine engine;
    private final TransferPlane plane;
    private final KvMemory pool;
    private final PinReleaser releaser;
    private final DisaggMetrics metrics;
    private final long transferTimeoutMs;

    /**
     * @param plane             pulls from peers; null when this engine has no KV pool (simulated):
     *                          every import then falls back to a local prefill
     * @param pool              this engine's pool as the transfer plane sees it, or null with plane
     * @param transferTimeoutMs deadline of one pull, ms
     */
    KvImporter(String workerId, LlmEngine engine, TransferPlane plane, KvMemory pool, PinReleaser releaser,
               DisaggMetrics metrics, long transferTimeoutMs) {
        this.workerId = workerId;
        this.engine = engine;
        this.plane = plane;
        this.pool = pool;
        this.releaser = releaser;
        this.metrics = metrics;
        this.transferTimeoutMs = transferTimeoutMs;
    }

    /** Starts an import of {@code request} (which carries a remote prefill); see the class notes. */
    RequestHandle submit(GenerateRequest request, TokenSink sink) {
        Import imp = new Import(request, sink);
        Thread.ofVirtual().name("tandem-kv-import-" + request.requestId()).start(imp::runGuarded);
        return imp;
    }

    /** One import. {@link #run} on its virtual thread; {@link #cancel} from anywhere. */
    private final class Import implements RequestHandle {
        private final GenerateRequest request;
        private final RemotePrefill prefill;
        private final TokenSink sink;
        /** Set by cancel() on any thread; read by the import thread. */
        private volatile boolean cancelled;
        /** The running engine request once started; read by cancel() on any thread. */
        private volatile RequestHandle started;
        /** The blocks held for the import until it starts or is given up (import thread only). */
        private ImportReservation reservation;
        /** Whether the prefill worker's pin was released (import thread only). */
        private boolean released;

        Import(GenerateRequest request, TokenSink sink) {
            this.request = request;
            this.prefill = request.remotePrefill();
            this.sink = sink;
        }

        @Override
        public String requestId() {
            return request.requestId();
        }

        @Override
        public void cancel() {
            cancelled = true;
            RequestHandle h = started;
            if (h != null) {
                h.cancel();
            }
        }

        /**
         * Runs the import; a failure nobody foresaw (a transport or engine bug) still frees the
         * reservation, releases the pin and ends the client's stream with an error instead of
         * leaving it waiting.
         */
        void runGuarded() {
            try {
                run();
            } catch (RuntimeException e) {
                LOG.log(WARNING, "[req=" + request.requestId() + "] import on worker " + workerId + " failed", e);
                ImportReservation r = reservation;
                if (r != null && started == null) {
                    engine.cancelImport(r);
                }
                if (!released) {
                    releasePin();
                }
                if (started == null) {
                    sink.onError(new RequestException(RequestException.Kind.INTERNAL, "[req=" + request.requestId()
                            + "] importing the prompt's KV on worker " + workerId + " failed: " + e, null, e));
                }
            }
        }

        /** Releases the prefill worker's pin, once. */
        private void releasePin() {
            if (!released) {
                released = true;
                releaser.release(prefill.handle(), prefill.prefillAddress());
            }
        }

        void run() {
            long startNanos = System.nanoTime();
            KvHandle handle = prefill.handle();
            GenerateRequest local = request.withoutRemotePrefill();
            if (plane == null) {
                fallBack(local, "no_kv_pool", "worker " + workerId + " has no KV pool to import into");
                return;
            }
            if (handle.movedByEngines()) {
                fallBack(local, "handle_foreign", "handle " + handle.handleId() + " of " + handle.workerId()
                        + " holds blocks an external engine moves itself (" + handle.endpoints() + ")");
                return;
            }
            ImportReservation r;
            try {
                r = engine.reserveImport(local).get(RESERVE_WAIT_MS, TimeUnit.MILLISECONDS);
            } catch (ExecutionException | TimeoutException e) {
                Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
                fallBack(local, "decode_no_room", "no room to import: " + cause.getMessage());
                return;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                fallBack(local, "decode_no_room", "interrupted while reserving");
                return;
            }
            reservation = r;
            if (cancelled) {
                abandon(r);
                return;
            }
            int[] dst = r.blockIds();
            int[] src = handle.blockIds();
            int blockSize = engine.info().layout().blockSizeTokens();
            if (src.length != dst.length || handle.layout().blockSizeTokens() != blockSize) {
                engine.cancelImport(r);
                fallBack(local, "handle_mismatch", "handle " + handle.handleId() + " has " + src.length
                        + " blocks of " + handle.layout().blockSizeTokens() + " tokens, the reservation "
                        + dst.length + " of " + blockSize);
                return;
            }
            int from = r.firstBlockToFill();
            if (from < dst.length) {
                TransferResult result = plane.pull(handle, Arrays.copyOfRange(src, from, src.length), pool,
                        Arrays.copyOfRange(dst, from, dst.length), deadline(handle));
                if (result instanceof TransferResult.Failed f) {
                    engine.cancelImport(r);
                    metrics.transferFallback(f.reason());
                    fallBackCounted(local, "the pull from " + handle.workerId() + " failed (" + f.reason() + "): "
                            + f.message());
                    return;
                }
            }
            if (cancelled) {
                abandon(r);
                return;
            }
            sink.onToken(prefill.firstToken());
            RequestHandle h = engine.startImported(r, prefill.firstToken().tokenId(), sink);
            started = h;
            if (cancelled) {
                h.cancel();
            }
            metrics.imported(System.nanoTime() - startNanos, request.promptLength() - r.cachedTokens());
            if (LOG.isLoggable(DEBUG)) {
                LOG.log(DEBUG, "[req={0}] imported {1} of {2} blocks from {3} in {4} us", request.requestId(),
                        dst.length - from, dst.length, handle.workerId(), (System.nanoTime() - startNanos) / 1000);
            }
            releasePin();
        }

        private Deadline deadline(KvHandle handle) {
            long leftMs = handle.expiresAtEpochMs() - System.currentTimeMillis() - EXPIRY_MARGIN_MS;
            return Deadline.in(java.time.Duration.ofMillis(Math.max(0, Math.min(transferTimeoutMs, leftMs))));
        }

        /** Cancelled before the decode started: free the reservation and the pin, tell the sink. */
        private void abandon(ImportReservation r) {
            engine.cancelImport(r);
            reservation = null;
            releasePin();
            sink.onFinish(FinishReason.CANCELLED, new Usage(request.promptLength(), 0, 0, 0));
        }

        private void fallBack(GenerateRequest local, String reason, String why) {
            metrics.fallback(reason);
            fallBackCounted(local, why);
        }

        private void fallBackCounted(GenerateRequest local, String why) {
            reservation = null; // the caller cancelled it
            releasePin();
            RequestHandle h = PrefillFallback.prefillLocally(local, why, prefill.required(), engine, workerId, sink,
                    () -> cancelled);
            started = h;
            if (h != null && cancelled) {
                h.cancel();
            }
        }
    }
}
