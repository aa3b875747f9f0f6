package dev.tandem.cli.planner;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Locale;

/**
 * The planner at work: every {@code intervalMs} it scrapes the frontend's {@code /metrics} (with
 * a deadline), adds the scrape to a {@link MetricsWindow}, asks the {@link PoolPlanner} for the
 * pool sizes and hands a changed decision to a {@link PoolActuator}. Prints one line per
 * decision that changes something (at least every 15 s while steady, and one per scrape that
 * fails), and on close the worker-seconds the pools used.
 *
 * <p>Runs on its own platform thread; {@link #close()} stops it and waits for it.
 */
public final class PlannerLoop implements AutoCloseable {
    private static final Duration SCRAPE_TIMEOUT = Duration.ofSeconds(5);
    /** Longest silence: a steady planner still prints what it sees this often, ms. */
    private static final long STATUS_EVERY_MS = 15_000;

    private final PoolPlanner planner;
    private final MetricsWindow window;
    private final URI metricsUri;
    private final PoolActuator actuator;
    private final PrintStream out;
    private final long intervalMs;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(SCRAPE_TIMEOUT).build();
    private final Thread thread;
    private volatile boolean stopping;
    /** Pool sizes integrated over time, worker-ms; written by the loop thread. */
    private volatile double workerMs;
    private volatile long decisions;
    /** When the loop last printed, ms; loop thread only. */
    private long lastPrintMs;

    private PlannerLoop(PoolPlanner planner, String frontendUrl, PoolActuator actuator, PrintStream out,
                        long intervalMs) {
        this.planner = planner;
        this.window = new MetricsWindow(planner.config().windowMs());
        this.metricsUri = URI.create(frontendUrl + "/metrics");
        this.actuator = actuator;
        this.out = out;
        this.intervalMs = intervalMs;
        this.thread = Thread.ofPlatform().daemon().name("tandem-planner").unstarted(this::run);
    }

    /** Starts planning against the frontend at {@code frontendUrl} ({@code http://host:port}). */
    public static PlannerLoop start(PlannerConfig config, String frontendUrl, PoolActuator actuator, PrintStream out,
                                    long intervalMs) {
        PlannerLoop loop = new PlannerLoop(new PoolPlanner(config, System::currentTimeMillis), frontendUrl, actuator,
                out, intervalMs);
        loop.thread.start();
        return loop;
    }

    private void run() {
        long last = System.nanoTime();
        while (!stopping) {
            long now = System.nanoTime();
            workerMs += (actuator.size(Pool.PREFILL) + actuator.size(Pool.DECODE)) * (now - last) / 1e6;
            last = now;
            try {
                step();
            } catch (RuntimeException e) {
                print("planner: " + e.getMessage());
            }
            try {
                Thread.sleep(intervalMs);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void step() {
        String text;
        try {
            text = http.send(HttpRequest.newBuilder(metricsUri).timeout(SCRAPE_TIMEOUT).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
        } catch (IOException e) {
            print("planner: cannot scrape " + metricsUri + ": " + e.getMessage());
            return;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        window.add(System.currentTimeMillis(), MetricsText.parse(text));
        if (!window.ready()) {
            return;
        }
        Observation o = window.observe();
        int prefill = actuator.size(Pool.PREFILL);
        int decode = actuator.size(Pool.DECODE);
        Decision d = planner.decide(o, prefill, decode);
        long nowMs = System.currentTimeMillis();
        boolean change = d.changes(prefill, decode);
        if (!change && nowMs - lastPrintMs < STATUS_EVERY_MS) {
            return;
        }
        lastPrintMs = nowMs;
        print(String.format(Locale.ROOT, "planner %s: ttft_p95=%.0fms itl_p95=%.1fms requests=%d queued=%d "
                        + "waiting=%d/%d kv=%.2f -> prefill %d, decode %d (%s)", Instant.now(), o.ttftP95Ms(),
                o.itlP95Ms(), o.requests(), o.queued(), o.prefillWaiting(), o.decodeWaiting(), o.decodeKvUsage(),
                d.prefill(), d.decode(), d.reason()));
        if (!change) {
            return;
        }
        decisions++;
        for (Pool pool : Pool.values()) {
            if (d.replicas(pool) != actuator.size(pool)) {
                actuator.resize(pool, d.replicas(pool));
            }
        }
    }

    private void print(String line) {
        out.println(line);
        out.flush();
    }

    /** Worker-seconds used by both pools since the loop started. */
    public double workerSeconds() {
        return workerMs / 1000;
    }

    /** Decisions that changed a pool. */
    public long decisions() {
        return decisions;
    }

    @Override
    public void close() {
        stopping = true;
        thread.interrupt();
        try {
            thread.join(Duration.ofSeconds(60));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        http.close();
        print(String.format(Locale.ROOT, "planner: %d decisions, %.1f worker-seconds", decisions, workerSeconds()));
    }
}
