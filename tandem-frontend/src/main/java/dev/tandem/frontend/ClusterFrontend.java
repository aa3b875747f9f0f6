package dev.tandem.frontend;

import dev.tandem.core.ConfigException;
import dev.tandem.router.RouterConfig;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EventBus;
import dev.tandem.runtime.events.WorkerEventSubscriber;
import dev.tandem.runtime.registry.Registry;
import dev.tandem.runtime.registry.RegistryWatch;
import dev.tandem.runtime.registry.WorkerSetTracker;
import dev.tandem.runtime.metrics.DisaggMetrics;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

import static dev.tandem.core.Closeables.closeQuietly;

/**
 * A frontend process of a distributed deployment ({@code tandem frontend}): the OpenAI server and
 * the KV-aware router, with workers in other processes found through the registry and followed
 * through the event plane.
 *
 * <pre>
 * registry watch ──▶ WorkerSetTracker (block size check) ──▶ RemoteWorkers ──▶ WorkerSet ──▶ RouterSelector
 *                                                              │ health probe, RemoteEngine per worker
 * event bus ──▶ WorkerEventSubscriber ──▶ EventPlaneMonitor ──┬─▶ RouterSelector (KV events, load)
 *                                           (silence: approximate routing; back: snapshot)
 *                                                              └─▶ RemoteWorkers (load, for metrics)
 * FrontendServer ── route ──▶ RouterSelector; submit ──▶ RemoteWorkerEngine ──gRPC──▶ worker
 * </pre>
 *
 * <p>The registry and event bus are passed in and not closed here (the command owns them).
 * Closing stops the HTTP server first (in-flight requests finish within its grace period or are
 * cancelled), then the watch, the subscription, the remote clients and the router.
 *
 * <p>Safe for concurrent use; {@link #close()} is idempotent.
 */
public final class ClusterFrontend implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ClusterFrontend.class.getName());
    /** Period of the event-silence check, ms. */
    static final long CHECK_PERIOD_MS = 250;

    /**
     * How the frontend runs.
     *
     * @param frontend        the HTTP server's settings
     * @param router          the router's settings; its block size is the one every worker of the
     *                        model must use (others are refused with a log line)
     * @param probeIntervalMs pause between health probes of a registered worker that is not (or no
     *                        longer) reachable, ms; range [10, 600,000]
     * @param eventsSilenceMs how long a worker may send no event or load report before the router
     *                        routes it approximately, ms; range [100, 600,000]
     */
    public record Spec(FrontendConfig frontend, RouterConfig router, long probeIntervalMs, long eventsSilenceMs) {
        public static final long DEFAULT_PROBE_INTERVAL_MS = 1_000;

        public Spec {
            if (frontend == null || router == null) {
                throw new ConfigException("frontend and router settings are required");
            }
            if (probeIntervalMs < 10 || probeIntervalMs > 600_000) {
                throw new ConfigException("probe interval must be in [10, 600000] ms, got " + probeIntervalMs);
            }
            if (eventsSilenceMs < 100 || eventsSilenceMs > 600_000) {
                throw new ConfigException("events silence must be in [100, 600000] ms, got " + eventsSilenceMs);
            }
        }

        /** Silence threshold for workers reporting load every {@code loadReportIntervalMs}: 20 reports, at least 2 s. */
        public static long silenceFor(long loadReportIntervalMs) {
            return Math.min(600_000, Math.max(2_000, 20 * loadReportIntervalMs));
        }
    }

    private final LocalModel model;
    private final WorkerSet workerSet = new WorkerSet();
    private final RouterSelector selector;
    private final RemoteWorkers remote;
    private final EventPlaneMonitor monitor;
    private final ScheduledExecutorService timer;
    private final WorkerEventSubscriber subscriber;
    private final RegistryWatch watch;
    private final FrontendServer server;
    private boolean closed;

    private final DisaggMetrics disaggMetrics = new DisaggMetrics();

    private ClusterFrontend(Spec spec, DispatchConfig dispatch, LocalModel model, Registry registry, EventBus bus,
                            RuntimeConfig runtime) {
        this.model = model;
        this.selector = new RouterSelector(spec.router(), new Random());
        this.remote = new RemoteWorkers(workerSet, Set.of(model.name()), runtime, bus, spec.probeIntervalMs());
        this.monitor = new EventPlaneMonitor(selector, remote, spec.eventsSilenceMs(), System::nanoTime);
        workerSet.addListener(selector);
        workerSet.addListener(monitor);
        this.timer = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("tandem-events-monitor").factory());
        WorkerEventSubscriber sub = null;
        RegistryWatch w = null;
        FrontendServer s = null;
        try {
            timer.scheduleWithFixedDelay(this::check, CHECK_PERIOD_MS, CHECK_PERIOD_MS, TimeUnit.MILLISECONDS);
            sub = new WorkerEventSubscriber(bus, runtime.namespace(), monitor);
            WorkerSetTracker tracker = new WorkerSetTracker(Map.of(model.name(), spec.router().blockSizeTokens()),
                    remote);
            w = registry.watchInstances(tracker);
            s = FrontendServer.start(spec.frontend(), List.of(model.served()), workerSet, selector, dispatch,
                    disaggMetrics, null);
        } catch (RuntimeException e) {
            closeAll(s, w, sub);
            throw e;
        }
        this.subscriber = sub;
        this.watch = w;
        this.server = s;
        LOG.log(System.Logger.Level.INFO, "frontend for {0} in namespace {1}: workers come from the registry, "
                + "KV events and load from the event plane (router {2}, block size {3})", model.name(),
                runtime.namespace(), spec.router().policy().configName(), spec.router().blockSizeTokens());
    }

    /**
     * Starts watching the registry and listening; returns once the HTTP server listens (workers
     * join as they are found; {@code /ready} answers 503 until one serves the model).
     *
     * @param model the model's tokenizer and chat template (owned by the caller)
     */
    public static ClusterFrontend start(Spec spec, LocalModel model, Registry registry, EventBus bus,
                                        RuntimeConfig runtime) {
        return new ClusterFrontend(spec, DispatchConfig.defaults(), model, registry, bus, runtime);
    }

    /**
     * As {@link #start(Spec, LocalModel, Registry, EventBus, RuntimeConfig)}, splitting requests
     * between prefill and decode workers (registered with those roles) as {@code dispatch} says.
     */
    public static ClusterFrontend start(Spec spec, DispatchConfig dispatch, LocalModel model, Registry registry,
                                        EventBus bus, RuntimeConfig runtime) {
        return new ClusterFrontend(spec, dispatch, model, registry, bus, runtime);
    }

    /** The frontend's disaggregation counters (its decisions, prefill fallbacks, migrations). */
    public DisaggMetrics disaggMetrics() {
        return disaggMetrics;
    }

    private void check() {
        try {
            monitor.check();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "event-plane check failed", e);
        }
    }

    public String url() {
        return server.url();
    }

    public int port() {
        return server.port();
    }

    public String modelName() {
        return model.name();
    }

    public FrontendServer server() {
        return server;
    }

    public WorkerSet workers() {
        return workerSet;
    }

    public RouterSelector router() {
        return selector;
    }

    /** Registered workers of the model that are not usable now (unreachable or draining). */
    public Set<String> unreachableWorkers() {
        return remote.unreachable();
    }

    /** True while the worker's KV events count as lost (it is routed approximately). */
    public boolean eventsSilent(String workerId) {
        return monitor.silent(workerId);
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeAll(server, watch, subscriber);
    }

    private void closeAll(FrontendServer s, RegistryWatch w, WorkerEventSubscriber sub) {
        closeQuietly(s, LOG);
        closeQuietly(w, LOG);
        closeQuietly(sub, LOG);
        timer.shutdownNow();
        closeQuietly(remote, LOG);
        closeQuietly(selector, LOG);
    }
}
