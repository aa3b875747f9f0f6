package dev.tandem.worker;

import dev.tandem.core.LoadReport;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.registry.EmbeddedRegistry;
import dev.tandem.runtime.registry.EmbeddedRegistryStore;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The worker's metrics listener over real HTTP: readiness follows the worker, load is read at scrape time. */
class MetricsServerTest {
    private final AtomicReference<LoadReport> load = new AtomicReference<>(LoadReport.IDLE);
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private MetricsServer server;

    @BeforeEach
    void start() {
        PrometheusRegistry registry = new PrometheusRegistry();
        WorkerLoadMetrics.register(registry, load::get,
                new EmbeddedRegistry(new EmbeddedRegistryStore(System::nanoTime), RuntimeConfig.defaults()));
        server = MetricsServer.start("127.0.0.1", 0, registry);
    }

    @AfterEach
    void stop() {
        server.close();
        http.close();
    }

    private HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void ready_isServiceUnavailableUntilRegistered_andAgainWhenDraining() throws Exception {
        int before = get("/ready").statusCode();
        server.ready(true);
        int registered = get("/ready").statusCode();
        server.ready(false);
        int draining = get("/ready").statusCode();

        assertThat(before).isEqualTo(503);
        assertThat(registered).isEqualTo(200);
        assertThat(draining).isEqualTo(503);
        assertThat(get("/health").statusCode()).isEqualTo(200);
        assertThat(get("/nothing").statusCode()).isEqualTo(404);
    }

    /** A sidecar whose server stopped answering leaves the registry: asked on every probe, not once. */
    @Test
    void readyWhen_followsTheConditionAtEachProbe() throws Exception {
        AtomicBoolean registered = new AtomicBoolean(true);
        server.readyWhen(registered::get);
        int up = get("/ready").statusCode();
        registered.set(false);
        int left = get("/ready").statusCode();
        registered.set(true);

        assertThat(up).isEqualTo(200);
        assertThat(left).isEqualTo(503);
        assertThat(get("/ready").statusCode()).isEqualTo(200);
    }

    @Test
    void metrics_reportTheEnginesLoadAtScrapeTime() throws Exception {
        load.set(new LoadReport(100, 40, 10, 3, 2, 512, 1000, 250));

        String body = get("/metrics").body();

        assertThat(body).contains("tandem_worker_kv_usage 0.4").contains("tandem_worker_kv_blocks{state=\"total\"} 100.0")
                .contains("tandem_worker_running_sequences 3.0").contains("tandem_worker_waiting_sequences 2.0")
                .contains("tandem_worker_queued_prefill_tokens 512.0").contains("tandem_worker_prompt_tokens_total 1000.0")
                .contains("tandem_worker_cached_prompt_tokens_total 250.0")
                .doesNotContain("tandem_worker_lease_losses"); // only an etcd registry has leases
    }
}
