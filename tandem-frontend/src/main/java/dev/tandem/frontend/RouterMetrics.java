package dev.tandem.frontend;

import dev.tandem.core.WorkerRole;
import dev.tandem.router.RouterStats;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The router's and the worker set's state on the frontend's {@code /metrics}, read at scrape
 * time (callbacks: nothing is counted twice).
 *
 * <pre>
 * tandem_frontend_workers{role}                  gauge    workers in the frontend's set (ready: health-probed), per role
 * tandem_frontend_worker_info{worker,role}       gauge    1 per worker in the set (joins the per-worker gauges with roles)
 * tandem_router_approximate_workers              gauge    workers routed approximately (their KV events are silent)
 * tandem_router_event_gaps_total                 counter  gaps seen in a worker's KV event numbers
 * tandem_router_snapshots_requested_total        counter  KV snapshots asked for after a gap or a silence
 * tandem_router_events_applied_total             counter  KV events applied to the prefix index
 * tandem_router_decisions_total{outcome}         counter  routed, rejected_busy, rejected_no_worker
 * </pre>
 *
 * <p>Safe for concurrent use.
 */
final class RouterMetrics {
    private RouterMetrics() {
    }

    /** Registers the gauges and counters over {@code stats} and {@code workers}. */
    static void register(PrometheusRegistry registry, Supplier<RouterStats> stats, WorkerSet workers) {
        GaugeWithCallback.builder().name("tandem_frontend_workers")
                .help("Workers in the frontend's worker set (admitted after a health probe), per role")
                .labelNames("role")
                .callback(cb -> {
                    Map<WorkerRole, Integer> counts = new EnumMap<>(WorkerRole.class);
                    for (WorkerRole r : WorkerRole.values()) {
                        counts.put(r, 0);
                    }
                    for (Worker w : workers.all()) {
                        counts.merge(w.role(), 1, Integer::sum);
                    }
                    counts.forEach((role, n) -> cb.call(n, role.name().toLowerCase(Locale.ROOT)));
                }).register(registry);
        GaugeWithCallback.builder().name("tandem_frontend_worker_info")
                .help("1 for each worker in the frontend's set, labelled with its role").labelNames("worker", "role")
                .callback(cb -> {
                    for (Worker w : workers.all()) {
                        cb.call(1, w.id(), w.role().name().toLowerCase(Locale.ROOT));
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("tandem_router_approximate_workers")
                .help("Workers routed from the router's own decisions because their KV events are silent")
                .callback(cb -> cb.call(stats.get().approximateWorkers())).register(registry);
        CounterWithCallback.builder().name("tandem_router_event_gaps")
                .help("Gaps detected in a worker's KV event numbers (events lost on the event plane)")
                .callback(cb -> cb.call(stats.get().gapsDetected())).register(registry);
        CounterWithCallback.builder().name("tandem_router_snapshots_requested")
                .help("KV snapshots requested to resynchronise a worker after a gap or a silence")
                .callback(cb -> cb.call(stats.get().snapshotsRequested())).register(registry);
        CounterWithCallback.builder().name("tandem_router_events_applied")
                .help("KV events applied to the router's prefix index")
                .callback(cb -> cb.call(stats.get().eventsApplied())).register(registry);
        CounterWithCallback.builder().name("tandem_router_decisions")
                .help("Routing decisions by outcome").labelNames("outcome")
                .callback(cb -> {
                    RouterStats s = stats.get();
                    cb.call(s.routed(), "routed");
                    cb.call(s.rejectedBusy(), "rejected_busy");
                    cb.call(s.rejectedNoWorker(), "rejected_no_worker");
                }).register(registry);
    }
}
