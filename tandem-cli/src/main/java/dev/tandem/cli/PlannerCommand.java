package dev.tandem.cli;

import dev.tandem.cli.planner.MetricsText;
import dev.tandem.cli.planner.MetricsWindow;
import dev.tandem.cli.planner.PlannerConfig;
import dev.tandem.cli.planner.PlannerLoop;
import dev.tandem.cli.planner.Pool;
import dev.tandem.cli.planner.ReplicaPrinter;
import dev.tandem.core.ConfigException;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code tandem planner --frontend URL}: watches a running frontend and prints how many prefill
 * and decode workers it needs, as {@code kubectl scale} commands. To act on a local cluster, use
 * {@code tandem up FILE --planner}.
 */
@Command(name = "planner", mixinStandardHelpOptions = true,
        description = {"Size the prefill and decode pools of a running cluster for latency objectives.",
            "It scrapes the frontend's /metrics (TTFT and ITL histograms, queue, per-worker load).",
            "Each change is printed as: kubectl scale deployment/tandem-ROLE --replicas=N (deploy/kubernetes).",
            "To start and drain local worker processes instead: tandem up FILE --planner"})
final class PlannerCommand implements Callable<Integer> {
    @Option(names = "--frontend", required = true, description = "the frontend, e.g. http://127.0.0.1:8000")
    String frontend;

    @Option(names = "--namespace", defaultValue = "tandem",
            description = "Kubernetes namespace in the printed commands (default: ${DEFAULT-VALUE})")
    String namespace;

    @Option(names = "--duration-s", defaultValue = "0", description = "stop after this many seconds, 0 = at Ctrl-C")
    long durationSeconds;

    @Mixin
    PlannerOptions options;

    final Foreground foreground = new Foreground();

    @Override
    public Integer call() throws InterruptedException {
        PlannerConfig config = options.config();
        String base = frontend.replaceAll("/+$", "").replaceAll("/v1$", "");
        MetricsWindow first = new MetricsWindow(config.windowMs());
        first.add(0, MetricsText.parse(scrape(base)));
        PrintStream out = System.out;
        int prefill = first.workers(Pool.PREFILL);
        int decode = first.workers(Pool.DECODE);
        out.printf("Planning for %s: %d prefill and %d decode workers now; p95 TTFT <= %.0f ms, p95 ITL <= %.1f ms%n",
                base, prefill, decode, config.ttftSloMs(), config.itlSloMs());
        out.flush();
        PlannerLoop loop = PlannerLoop.start(config, base,
                new ReplicaPrinter(out, namespace, prefill, decode), out, options.intervalMs);
        if (durationSeconds > 0) {
            Thread.ofVirtual().start(() -> {
                try {
                    Thread.sleep(Duration.ofSeconds(durationSeconds));
                    foreground.stop();
                } catch (InterruptedException e) {
                    // stopped already
                }
            });
        }
        foreground.run("planner", List.of(loop), "Planner stopped");
        return 0;
    }

    private static String scrape(String base) {
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + "/metrics"))
                    .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new ConfigException(base + "/metrics answered " + r.statusCode() + "; is it a Tandem frontend?");
            }
            return r.body();
        } catch (IOException e) {
            throw new ConfigException("cannot reach the frontend at " + base + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ConfigException("interrupted while reaching " + base);
        }
    }
}
