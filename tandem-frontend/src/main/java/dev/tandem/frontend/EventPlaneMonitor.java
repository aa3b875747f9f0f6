package dev.tandem.frontend;

import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.router.Router;
import dev.tandem.runtime.events.WorkerEventSubscriber;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongSupplier;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * Between the event plane and the router: passes every worker's KV events and load reports on
 * (to the {@link RouterSelector}, and load to {@link RemoteWorkers} for metrics), and notices
 * when a worker's events stop arriving.
 *
 * <h2>Design</h2>
 * Every worker publishes a load report each {@code loadReportIntervalMs}, so silence longer than
 * {@code silenceMs} means its events are not reaching this frontend (NATS down, either side cut
 * off, the worker stuck). Then the router is told the worker's events are unavailable and routes
 * it approximately (its own recent decisions stand in for the lost KV events). When anything
 * arrives from the worker again, the router first resynchronises it (asks for a KV snapshot over
 * the request plane and stays approximate until it is applied), then takes events again: events
 * dropped during the outage are never trusted to have been nothing.
 * <pre>
 *   HEARING ──no message for silenceMs (check)──▶ SILENT   router.setEventsAvailable(id, false)
 *      ▲                                            │
 *      └──────── any message from the worker ───────┘       router.resync(id); setEventsAvailable(id, true)
 * </pre>
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use: bus threads deliver messages, a timer calls {@link #check()}, the
 * worker set adds and removes workers; per-worker state changes under the worker's state monitor.
 */
final class EventPlaneMonitor implements WorkerEventSubscriber.Listener, WorkerSet.Listener {
    private static final System.Logger LOG = System.getLogger(EventPlaneMonitor.class.getName());

    private final RouterSelector selector;
    private final RemoteWorkers remote;
    private final long silenceNs;
    private final LongSupplier clockNs;
    private final Map<String, State> states = new ConcurrentHashMap<>();

    private static final class State {
        /** Last message (or join) time; written by bus threads, read by the timer. */
        volatile long lastHeardNs;
        boolean silent; // guarded by this
    }

    /**
     * @param remote    receives load reports for metrics; may be null
     * @param silenceMs how long without a message before a worker's events count as lost, ms
     */
    EventPlaneMonitor(RouterSelector selector, RemoteWorkers remote, long silenceMs, LongSupplier clockNs) {
        this.selector = selector;
        this.remote = remote;
        this.silenceNs = silenceMs * 1_000_000L;
        this.clockNs = clockNs;
    }

    @Override
    public void onKvEvents(String workerId, List<KvEvent> events) {
        heard(workerId);
        selector.onKvEvents(workerId, events);
    }

    @Override
    public void onLoad(String workerId, LoadReport report) {
        heard(workerId);
        if (remote != null) {
            remote.onLoad(workerId, report);
        }
        selector.onLoad(workerId, report);
    }

    private void heard(String workerId) {
        State s = states.get(workerId);
        if (s == null) {
            return;
        }
        s.lastHeardNs = clockNs.getAsLong();
        boolean resumed;
        synchronized (s) {
            resumed = s.silent;
            s.silent = false;
        }
        if (resumed) {
            Router router = selector.router();
            router.resync(workerId);
            router.setEventsAvailable(workerId, true);
            LOG.log(INFO, "[worker={0}] events arrive again: KV snapshot requested, exact routing once it is applied",
                    workerId);
        }
    }

    /** Marks workers silent for longer than the threshold as approximate. Called by a timer. */
    void check() {
        long now = clockNs.getAsLong();
        for (Map.Entry<String, State> e : states.entrySet()) {
            State s = e.getValue();
            if (now - s.lastHeardNs <= silenceNs) {
                continue;
            }
            boolean wentSilent;
            synchronized (s) {
                wentSilent = !s.silent && now - s.lastHeardNs > silenceNs;
                if (wentSilent) {
                    s.silent = true;
                }
            }
            if (wentSilent) {
                selector.router().setEventsAvailable(e.getKey(), false);
                LOG.log(WARNING, "[worker={0}] no events or load reports for {1} ms: routing it approximately until "
                        + "they return", e.getKey(), (now - s.lastHeardNs) / 1_000_000);
            }
        }
    }

    /** True while the worker's events count as lost. */
    boolean silent(String workerId) {
        State s = states.get(workerId);
        if (s == null) {
            return false;
        }
        synchronized (s) {
            return s.silent;
        }
    }

    @Override
    public void added(Worker worker) {
        State s = new State();
        s.lastHeardNs = clockNs.getAsLong();
        states.put(worker.id(), s);
    }

    @Override
    public void removed(Worker worker) {
        states.remove(worker.id());
    }
}
