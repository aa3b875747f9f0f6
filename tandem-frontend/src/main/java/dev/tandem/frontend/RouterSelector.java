package dev.tandem.frontend;

import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RequestException;
import dev.tandem.core.WorkerRole;
import dev.tandem.frontend.openai.ApiException;
import dev.tandem.router.Decision;
import dev.tandem.router.RouteRequest;
import dev.tandem.router.Router;
import dev.tandem.router.RouterConfig;
import dev.tandem.runtime.events.WorkerEventSubscriber;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The frontend's side of the KV-aware {@link Router}: routes requests with the router's policy
 * (kv, round-robin, random, least-loaded, session-affinity), keeps the router's worker list in
 * step with the {@link WorkerSet}, and feeds it the workers' KV events and load reports (from the
 * event plane, as a {@link WorkerEventSubscriber.Listener}, or directly from in-process engines).
 *
 * <h2>Design</h2>
 * A request's decision travels with it as a {@link RoutedRequest}, so the router takes its load
 * back at the first token ({@link Router#prefillDone}) and when the request closes it
 * ({@link Router#finished}); the decision's predicted overlap becomes the frontend's
 * predicted-cached-tokens metric, next to the cached tokens the worker reports. When the router
 * misses events of a worker it asks for a snapshot; this class answers from the worker's engine
 * on a virtual thread (a remote engine makes that an RPC). A daemon timer calls
 * {@link Router#doWork()} every {@value #MAINTENANCE_PERIOD_MS} ms (approximate-record expiry,
 * snapshot retries).
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use: the router is; the worker map is concurrent.
 */
public final class RouterSelector implements WorkerSelector, WorkerSet.Listener, WorkerEventSubscriber.Listener,
        AutoCloseable {
    private static final System.Logger LOG = System.getLogger(RouterSelector.class.getName());
    /** Period of the router's maintenance work, ms. */
    static final long MAINTENANCE_PERIOD_MS = 200;

    private final Router router;
    private final Map<String, Worker> workers = new ConcurrentHashMap<>();
    private final ScheduledExecutorService timer;

    /**
     * @param config the router's configuration; its block size must be the workers'
     * @param random randomness for the random policy and softmax sampling
     */
    public RouterSelector(RouterConfig config, Random random) {
        this.router = Router.create(config, this::requestSnapshot, System::nanoTime, random);
        this.timer = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("tandem-router-maintenance").factory());
        timer.scheduleWithFixedDelay(this::maintain, MAINTENANCE_PERIOD_MS, MAINTENANCE_PERIOD_MS,
                TimeUnit.MILLISECONDS);
    }

    public Router router() {
        return router;
    }

    @Override
    public RoutedRequest select(RoutingRequest request, List<Worker> candidates) {
        // decode workers take whole requests when the deployment has them; aggregated ones otherwise
        WorkerRole pool = WorkerRole.AGGREGATED;
        for (Worker w : candidates) {
            if (w.role() == WorkerRole.DECODE) {
                pool = WorkerRole.DECODE;
                break;
            }
        }
        RouteRequest r = new RouteRequest(request.requestId(), request.blockHashes(), request.promptTokens(),
                pool, request.user(), null, null, null);
        Decision d;
        try {
            d = router.route(r);
        } catch (RequestException e) {
            throw ApiException.from(e);
        }
        return switch (d) {
            case Decision.Routed routed -> {
                Worker w = workers.get(routed.workerId());
                if (w == null || !candidates.contains(w)) {
                    router.finished(routed);
                    // the router still lists a worker the caller excluded (a migration away from a
                    // worker just lost, before the registry says so): send it to a candidate directly
                    RoutedRequest direct = toCandidate(r, candidates);
                    if (direct != null) {
                        yield direct;
                    }
                    throw ApiException.unavailable("[req=" + request.requestId() + "] the router chose worker '"
                            + routed.workerId() + "', which is no longer available; retry");
                }
                yield routedRequest(w, routed);
            }
            case Decision.Rejected rejected -> throw ApiException.unavailable(rejected.message());
        };
    }

    /** The first candidate the router routes {@code r} to when asked for it by name, or null. */
    private RoutedRequest toCandidate(RouteRequest r, List<Worker> candidates) {
        for (Worker c : candidates) {
            Decision d = router.route(new RouteRequest(r.requestId(), r.blockHashes(), r.promptTokens(), r.pool(),
                    r.sessionKey(), c.id(), null, null));
            if (d instanceof Decision.Routed routed) {
                return routedRequest(c, routed);
            }
        }
        return null;
    }

    @Override
    public RoutedRequest selectPrefill(RoutingRequest request, List<Worker> prefillWorkers, long busyQueuedPrefillTokens) {
        RouteRequest r = new RouteRequest(request.requestId(), request.blockHashes(), request.promptTokens(),
                WorkerRole.PREFILL, request.user(), null, null, null);
        Decision d;
        try {
            d = router.route(r, router.config().busyKvUsage(), busyQueuedPrefillTokens);
        } catch (RequestException e) {
            throw ApiException.from(e);
        }
        if (d instanceof Decision.Routed routed) {
            Worker w = workers.get(routed.workerId());
            if (w != null && prefillWorkers.contains(w)) {
                return routedRequest(w, routed);
            }
            router.finished(routed);
        }
        return null;
    }

    /** The decision as the request holds it: its close gives the router's counted load back. */
    private RoutedRequest routedRequest(Worker w, Decision.Routed routed) {
        return new RoutedRequest(w, routed.overlapTokens(), new RoutedRequest.Load() {
            @Override
            public void prefillDone() {
                router.prefillDone(routed);
            }

            @Override
            public void finished() {
                router.finished(routed);
            }
        });
    }

    @Override
    public void added(Worker worker) {
        workers.put(worker.id(), worker);
        router.addWorker(worker.id(), worker.role(), true);
    }

    @Override
    public void removed(Worker worker) {
        workers.remove(worker.id(), worker);
        router.removeWorker(worker.id());
    }

    @Override
    public void onKvEvents(String workerId, List<KvEvent> events) {
        for (KvEvent e : events) {
            router.onKvEvent(workerId, e);
        }
    }

    @Override
    public void onLoad(String workerId, LoadReport report) {
        router.onLoadReport(workerId, report);
    }

    private void requestSnapshot(String workerId) {
        Worker w = workers.get(workerId);
        if (w == null) {
            return;
        }
        Thread.ofVirtual().name("tandem-router-snapshot-" + workerId).start(() -> {
            try {
                router.onKvSnapshot(workerId, w.engine().kvSnapshot());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "[worker={0}] KV snapshot failed (will retry): {1}", workerId,
                        e.toString());
            }
        });
    }

    private void maintain() {
        try {
            router.doWork();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "router maintenance failed", e);
        }
    }

    /** Stops the maintenance timer. Idempotent. */
    @Override
    public void close() {
        timer.shutdownNow();
    }
}
