package dev.tandem.worker;

import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.core.WorkerRecord;
import dev.tandem.engine.LoadedModel;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EventBus;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.runtime.registry.Registration;
import dev.tandem.runtime.registry.Registry;
import dev.tandem.runtime.rpc.WorkerRpcServer;
import dev.tandem.runtime.transfer.LocalPools;
import dev.tandem.runtime.transfer.TransferMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import static java.lang.System.Logger.Level.INFO;
import static dev.tandem.core.Closeables.closeQuietly;

/**
 * One worker process: a {@link LocalWorker} (engine, transfer plane, publishers, registry record)
 * served on the gRPC request plane, with its pool file and {@code /metrics}. {@code tandem worker}
 * runs one per process.
 *
 * <pre>
 *               ┌──────────── WorkerProcess ─────────────┐
 * frontend ─gRPC─▶ WorkerRpcServer ─▶ DisaggEngine(LlmEngine) generate, prefill, release, kvSnapshot, health, load
 *                │  engine ─KV events─▶ KvEventPublisher ─┼─▶ event bus  tandem.{ns}.kv.{id}
 *                │  engine.load() ───▶ LoadPublisher ─────┼─▶ event bus  tandem.{ns}.load.{id}
 *                │  DisaggEngine: prefill for peers (pins) and imports ───▶ TransferPlane ─▶ KV pulls (local, shm, tcp)
 *                │  WorkerRecord ────▶ Registration ──────┼─▶ registry   tandem/v1/instances/{ns}/{role}/{id}
 *                └────────────────────────────────────────┘
 * </pre>
 *
 * <h2>Design</h2>
 * Start-up goes inside out, so that nothing is announced before it works: engine, transfer
 * plane, RPC server, event publishers, and the registry record last. A router that misses the
 * first events (it subscribed late, or NATS was down) sees a gap in the event numbers and asks
 * for a snapshot over the request plane, which the RPC server answers from the engine.
 * <p>
 * Shutdown ({@link #close()}) goes the other way. The record is revoked first, so frontends
 * stop choosing this worker; health turns to "not serving"; after a short pause for the
 * removal to reach every frontend, the RPC server stops taking calls and gives running requests
 * up to {@code drainTimeoutMs} to finish, then cancels them (which frees their KV blocks). Only
 * then are the publishers stopped and the engine and transfer plane closed. A worker that dies
 * without closing simply stops renewing its lease: it disappears from the registry within the TTL.
 * <p>
 * The registry and the event bus are passed in and not closed here: their owner (the command)
 * may share them.
 *
 * <h2>Concurrency</h2>
 * Start and close on one lifecycle thread; every accessor is safe for concurrent use.
 */
public final class WorkerProcess implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(WorkerProcess.class.getName());
    /** After deregistering, how long calls are still accepted while the removal reaches frontends, ms. */
    static final long DEREGISTER_PAUSE_MS = 300;
    /** Where same-host KV pools live. */
    static final Path SHM_DIR = Path.of("/dev/shm");

    private final WorkerSpec spec;
    private final DisaggOptions options;
    private final DisaggMetrics metrics = new DisaggMetrics();
    private EngineSource source;
    private LocalWorker worker;
    private PinReleaser releaser;
    private MetricsServer metricsServer;
    private Path poolFile;
    private FileLock poolLock;
    private WorkerRpcServer rpc;
    private boolean closed;

    private WorkerProcess(WorkerSpec spec, DisaggOptions options) {
        this.spec = spec;
        this.options = options;
    }

    /**
     * Starts the engine and announces the worker; returns once it is registered.
     *
     * @throws dev.tandem.core.TandemException if any part cannot start (the ones already started
     *                                         are stopped again)
     */
    public static WorkerProcess start(WorkerSpec spec, RuntimeConfig runtime, Registry registry, EventBus bus) {
        return start(spec, DisaggOptions.DEFAULT, runtime, registry, bus);
    }

    /** As {@link #start(WorkerSpec, RuntimeConfig, Registry, EventBus)} with disaggregation and metrics settings. */
    public static WorkerProcess start(WorkerSpec spec, DisaggOptions options, RuntimeConfig runtime, Registry registry,
                                      EventBus bus) {
        WorkerProcess w = new WorkerProcess(spec, options);
        try {
            w.startParts(runtime, registry, bus);
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
        return w;
    }

    private void startParts(RuntimeConfig runtime, Registry registry, EventBus bus) {
        String id = spec.instanceId();
        source = spec.upstream() != null
                ? EngineSource.upstream(LoadedModel.open(spec.modelFile(), spec.servedName()), true, spec.upstream(),
                        spec.upstream().kvEventFeed(id, spec.engine().blockSizeTokens()))
                : EngineSource.open(spec.modelFile(), spec.servedName(), spec.mock(), spec.mockSpeedup());
        poolFile = source.holdsKv() ? sharedPoolFile(spec) : null;
        if (poolFile != null) {
            ShmPoolFiles.sweep(poolFile.getParent());
            poolLock = ShmPoolFiles.acquire(poolFile);
        }
        releaser = new PinReleaser(runtime);
        worker = LocalWorker.start(new LocalWorker.Spec(id, spec.role(), spec.engine(), spec.threads(), poolFile),
                source, new LocalWorker.Disaggregation(spec.transferConfig(), LocalPools.shared(), releaser, metrics,
                        options.transferTimeoutMs()), bus, runtime);
        if (options.metricsPort() >= 0) {
            PrometheusRegistry metricsRegistry = new PrometheusRegistry();
            metrics.register(metricsRegistry, worker::activePins);
            WorkerLoadMetrics.register(metricsRegistry, worker.engine()::load, registry);
            metricsServer = MetricsServer.start(spec.rpcBindHost(), options.metricsPort(), metricsRegistry);
        }
        // prefill for peers: Tandem's own engine, or an external server of role prefill or decode
        rpc = WorkerRpcServer.start(spec.rpcBindHost(), spec.rpcPort(), worker.served(), worker.prefillService(),
                runtime);
        String address = hostPort(spec.advertiseHost(), rpc.port());
        Registration registration = worker.register(registry, address, spec.transferConfig().hostId());
        if (metricsServer != null) {
            metricsServer.readyWhen(worker::registered);
        }
        EngineInfo info = worker.engine().info();
        List<TransferEndpoint> endpoints = worker.endpoints();
        LOG.log(INFO, "[worker={0}] registered as {1} at {2}: {3} {4}, {5} KV blocks of {6} tokens, transfer {7}",
                id, registration.key(), address, spec.role().name().toLowerCase(Locale.ROOT), info.modelName(),
                info.totalBlocks(), info.layout().blockSizeTokens(), endpoints.isEmpty() ? "none" : endpoints);
    }

    /** The pool file for a worker that serves shared memory, or null for an anonymous pool. */
    static Path sharedPoolFile(WorkerSpec spec) {
        if (!spec.transferKinds().contains(TransferKind.SHM) || !Files.isDirectory(SHM_DIR)
                || !Files.isWritable(SHM_DIR)) {
            return null;
        }
        return SHM_DIR.resolve("tandem-kv-" + spec.instanceId() + ".pool");
    }

    static String hostPort(String host, int port) {
        return (host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host) + ":" + port;
    }

    /** The record this worker registered. */
    public WorkerRecord record() {
        return worker.record();
    }

    public WorkerSpec spec() {
        return spec;
    }

    /** The engine behind the request plane. */
    public Engine engine() {
        return worker.engine();
    }

    /** The port the request plane listens on. */
    public int rpcPort() {
        return rpc.port();
    }

    /** KV events published so far (for logs and tests). */
    public long publishedKvEvents() {
        return worker == null ? 0 : worker.publishedKvEvents();
    }

    /** KV events dropped while the event plane was unavailable. */
    public long droppedKvEvents() {
        return worker == null ? 0 : worker.droppedKvEvents();
    }

    /** Load reports published so far. */
    public long publishedLoadReports() {
        return worker == null ? 0 : worker.publishedLoadReports();
    }

    /** Bytes and blocks served to peers, per transport. */
    public TransferMetrics transferMetrics() {
        return metrics.transfer();
    }

    /** Disaggregation counters of this worker (prefills served, imports, fallbacks, transfers). */
    public DisaggMetrics disaggMetrics() {
        return metrics;
    }

    /** The engine as served: with the prefill and import sides of disaggregation. */
    public DisaggEngine disaggEngine() {
        return worker.disaggEngine();
    }

    /** The port of {@code GET /metrics}, or -1 when it is off. */
    public int metricsPort() {
        return metricsServer == null ? -1 : metricsServer.port();
    }

    /** Deregisters, drains (see the class notes) and stops everything. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        String id = spec.instanceId();
        if (metricsServer != null) {
            metricsServer.ready(false);
        }
        if (worker != null) {
            worker.deregister();
        }
        if (rpc != null) {
            rpc.drain();
            if (spec.drainTimeoutMs() > 0) {
                pause(Math.min(DEREGISTER_PAUSE_MS, spec.drainTimeoutMs()));
            }
            rpc.shutdown(spec.drainTimeoutMs());
        }
        closeQuietly(worker, LOG);
        closeQuietly(releaser, LOG);
        closeQuietly(metricsServer, LOG);
        closeQuietly(source, LOG);
        ShmPoolFiles.release(poolLock, poolFile);
        LOG.log(INFO, "[worker={0}] stopped", id);
    }

    private static void pause(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
