package dev.tandem.cli.planner;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;

/**
 * Scrapes of the frontend's {@code /metrics} over a sliding window, turned into an
 * {@link Observation}: latency quantiles from the histograms' growth across the window, queue
 * depths and KV usage from the newest scrape (per role through {@code tandem_frontend_worker_info}).
 *
 * <p>Not thread-safe: one planner loop adds and reads.
 */
public final class MetricsWindow {
    static final String TTFT = "tandem_frontend_time_to_first_token_seconds";
    static final String ITL = "tandem_frontend_inter_token_latency_seconds";

    private record Scrape(long atMs, MetricsText metrics) {
    }

    private final long windowMs;
    private final Deque<Scrape> scrapes = new ArrayDeque<>();

    public MetricsWindow(long windowMs) {
        this.windowMs = windowMs;
    }

    /** Adds a scrape taken at {@code atMs}; drops those older than the window (keeping one at its start). */
    public void add(long atMs, MetricsText metrics) {
        scrapes.addLast(new Scrape(atMs, metrics));
        while (scrapes.size() > 2 && atMs - secondOldest().atMs() >= windowMs) {
            scrapes.removeFirst();
        }
    }

    private Scrape secondOldest() {
        var it = scrapes.iterator();
        it.next();
        return it.next();
    }

    /** True once the window holds two scrapes (a difference to measure). */
    public boolean ready() {
        return scrapes.size() >= 2;
    }

    /** Workers of {@code pool} the frontend lists now ({@code tandem_frontend_workers}). */
    public int workers(Pool pool) {
        if (scrapes.isEmpty()) {
            return 0;
        }
        return (int) scrapes.getLast().metrics().all("tandem_frontend_workers").stream()
                .filter(s -> s.label("role").equals(pool.role())).mapToDouble(MetricsText.Sample::value).sum();
    }

    /** The window as the planner sees it. */
    public Observation observe() {
        if (scrapes.isEmpty()) {
            return new Observation(0, Double.NaN, Double.NaN, 0, 0, 0, 0);
        }
        MetricsText first = scrapes.getFirst().metrics();
        MetricsText last = scrapes.getLast().metrics();
        Histogram ttft = last.histogram(TTFT).minus(first.histogram(TTFT));
        Histogram itl = last.histogram(ITL).minus(first.histogram(ITL));
        Map<String, String> roles = new HashMap<>();
        for (MetricsText.Sample s : last.all("tandem_frontend_worker_info")) {
            roles.put(s.label("worker"), s.label("role"));
        }
        int prefillWaiting = 0;
        int decodeWaiting = 0;
        for (MetricsText.Sample s : last.all("tandem_frontend_worker_waiting")) {
            String role = roles.getOrDefault(s.label("worker"), "");
            if (role.equals(Pool.PREFILL.role())) {
                prefillWaiting += (int) s.value();
            } else if (role.equals(Pool.DECODE.role())) {
                decodeWaiting += (int) s.value();
            }
        }
        double kvSum = 0;
        int decodeWorkers = 0;
        for (MetricsText.Sample s : last.all("tandem_frontend_worker_kv_usage")) {
            if (roles.getOrDefault(s.label("worker"), "").equals(Pool.DECODE.role())) {
                kvSum += s.value();
                decodeWorkers++;
            }
        }
        return new Observation((long) ttft.count(), ttft.quantile(0.95) * 1000, itl.quantile(0.95) * 1000,
                (int) last.sum("tandem_frontend_requests_queued"), prefillWaiting, decodeWaiting,
                decodeWorkers == 0 ? 0 : kvSum / decodeWorkers);
    }
}
