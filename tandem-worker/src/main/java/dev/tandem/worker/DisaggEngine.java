package dev.tandem.worker;

import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.runtime.rpc.PrefillService;
import dev.tandem.runtime.transfer.KvMemory;
import dev.tandem.runtime.transfer.LocalPools;
import dev.tandem.runtime.transfer.TransferConfig;
import dev.tandem.runtime.transfer.TransferPlane;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static java.lang.System.Logger.Level.WARNING;

/**
 * A worker's engine with both halves of disaggregation: it prefills prompts for decode workers
 * ({@link PrefillService}, through {@link PrefillServer}) and continues requests that carry a
 * {@link dev.tandem.core.RemotePrefill} from pulled blocks ({@link KvImporter}); every other
 * request runs on the engine as usual. The worker's role only decides which pool the router
 * sends it requests from. {@code tandem worker} serves one over the request plane;
 * {@code tandem serve} runs several in one JVM.
 *
 * <h2>Design</h2>
 * Owns the engine and the worker's {@link TransferPlane}: the plane serves the engine's pool
 * (with the prefill server as its read guard) through the configured transports, and the
 * endpoints it returns go into every handle and into the worker's registry record. An engine
 * without a pool (the mock) gets no plane: it neither serves nor imports (a request with a remote
 * prefill falls back to a local prefill, a prefill call is refused as UNAVAILABLE).
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use, as its parts are. {@link #close()} stops the plane, withdraws the
 * prefill server from the releaser, then closes the engine (which drops every pin).
 */
public final class DisaggEngine implements Engine, PrefillService {
    private static final System.Logger LOG = System.getLogger(DisaggEngine.class.getName());
    /** Default deadline of one KV pull, ms. */
    public static final long DEFAULT_TRANSFER_TIMEOUT_MS = 5_000;

    private final String workerId;
    private final LlmEngine engine;
    private final TransferPlane plane;
    private final List<TransferEndpoint> endpoints;
    private final PrefillServer prefill;
    private final KvImporter importer;
    private final PinReleaser releaser;

    private DisaggEngine(String workerId, LlmEngine engine, TransferConfig transfer, LocalPools localPools,
                         PinReleaser releaser, DisaggMetrics metrics, long transferTimeoutMs) {
        this.workerId = workerId;
        this.engine = engine;
        this.releaser = releaser;
        this.prefill = new PrefillServer(workerId, engine, metrics);
        KvPool pool = engine.pool();
        if (pool != null) {
            KvMemory memory = new KvMemory(pool.layout(), pool.blockCount(), pool.memory(), pool.backingFile());
            this.plane = new TransferPlane(transfer, localPools, metrics.transfer());
            this.endpoints = plane.serve(workerId, memory, prefill);
            this.importer = new KvImporter(workerId, engine, plane, memory, releaser, metrics, transferTimeoutMs);
        } else {
            this.plane = null;
            this.endpoints = List.of();
            this.importer = new KvImporter(workerId, engine, null, null, releaser, metrics, transferTimeoutMs);
        }
        prefill.endpoints(endpoints);
        releaser.registerLocal(workerId, prefill);
    }

    /**
     * Wraps {@code engine} (ownership passes here) and serves its pool.
     *
     * @param transfer          transports to serve and pull with, listener addresses
     * @param localPools        the JVM's hub for the local transport
     * @param releaser          how this worker releases peers' pins after pulling (shared in a JVM)
     * @param metrics           where counters go (shared in a JVM)
     * @param transferTimeoutMs deadline of one pull, ms, &gt; 0
     * @throws dev.tandem.core.TandemException if a transfer listener cannot start (the engine is closed)
     */
    public static DisaggEngine start(String workerId, LlmEngine engine, TransferConfig transfer, LocalPools localPools,
                                     PinReleaser releaser, DisaggMetrics metrics, long transferTimeoutMs) {
        if (transferTimeoutMs <= 0) {
            engine.close();
            throw new IllegalArgumentException("transfer timeout must be positive, got " + transferTimeoutMs);
        }
        try {
            return new DisaggEngine(workerId, engine, transfer, localPools, releaser, metrics, transferTimeoutMs);
        } catch (RuntimeException e) {
            engine.close();
            throw e;
        }
    }

    /** The transfer endpoints of this worker's pool, best first (empty without a pool). */
    public List<TransferEndpoint> endpoints() {
        return endpoints;
    }

    /** The wrapped engine. */
    public LlmEngine engine() {
        return engine;
    }

    /** Pins held for decode workers now. */
    public int activePins() {
        return prefill.activePins();
    }

    @Override
    public EngineInfo info() {
        return engine.info();
    }

    @Override
    public RequestHandle submit(GenerateRequest request, TokenSink sink) {
        return request.remotePrefill() == null ? engine.submit(request, sink) : importer.submit(request, sink);
    }

    @Override
    public CompletableFuture<PrefillResult> prefill(GenerateRequest request) {
        return prefill.prefill(request);
    }

    @Override
    public boolean release(long handleId) {
        return prefill.release(handleId);
    }

    @Override
    public LoadReport load() {
        return engine.load();
    }

    @Override
    public AutoCloseable subscribe(KvEventListener listener) {
        return engine.subscribe(listener);
    }

    @Override
    public KvSnapshot kvSnapshot() {
        return engine.kvSnapshot();
    }

    @Override
    public void close() {
        releaser.unregisterLocal(workerId);
        if (plane != null) {
            try {
                plane.close();
            } catch (RuntimeException e) {
                LOG.log(WARNING, "[worker=" + workerId + "] closing the transfer plane failed", e);
            }
        }
        engine.close();
    }

    @Override
    public String toString() {
        return "DisaggEngine[" + workerId + ", " + engine.info().modelName() + ", endpoints=" + endpoints + "]";
    }
}
