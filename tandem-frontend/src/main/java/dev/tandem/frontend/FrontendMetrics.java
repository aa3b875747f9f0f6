package dev.tandem.frontend;

import dev.tandem.core.LoadReport;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.function.IntSupplier;

/**
 * The frontend's Prometheus metrics, one registry per frontend (so several can live in one JVM).
 *
 * <pre>
 * tandem_frontend_requests_total{endpoint,status}        counter  finished requests by HTTP status (499: client gone)
 * tandem_frontend_requests_in_flight                     gauge    requests being served (admitted or not)
 * tandem_frontend_requests_queued                        gauge    requests waiting for admission
 * tandem_frontend_time_to_first_token_seconds            histogram arrival to first token
 * tandem_frontend_inter_token_latency_seconds            histogram between consecutive tokens of a choice
 * tandem_frontend_request_duration_seconds{endpoint}     histogram arrival to last byte
 * tandem_frontend_input_tokens / output_tokens / cached_tokens   histograms, per request
 * tandem_frontend_predicted_cached_tokens_total          counter  what the router expected to be cached
 * tandem_frontend_actual_cached_tokens_total             counter  what the workers reported cached
 * tandem_frontend_worker_kv_usage{worker}                gauge    active KV blocks / total, [0, 1]
 * tandem_frontend_worker_prefix_hit_rate{worker}         gauge    cached / prompt tokens since start, [0, 1]
 * tandem_frontend_worker_waiting{worker}                 gauge    sequences waiting in the worker
 * tandem_frontend_worker_kv_blocks{worker,state}         gauge    KV blocks by state: free, cached (reusable
 *                                                                 prefix, refcount 0), active (held by sequences)
 * tandem_frontend_worker_prefix_cache_queries_total{worker}  counter  prompt tokens looked up in the prefix cache
 * tandem_frontend_worker_prefix_cache_hits_total{worker}     counter  prompt tokens found there (as vLLM's
 *                                                                 prefix_cache_queries / prefix_cache_hits)
 * </pre>
 *
 * <p>Exemplars are off: nothing here traces requests, and sampling them costs time on every
 * observation (the inter-token histogram is observed once per streamed token).
 *
 * <p>Safe for concurrent use (the Prometheus client's metrics are).
 */
final class FrontendMetrics {
    private static final double[] TOKEN_BUCKETS = {1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
        32768, 131072};
    private static final double[] LATENCY_BUCKETS = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
        0.5, 1, 2.5, 5, 10, 30, 60, 120};

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Counter requests;
    private final Histogram ttft;
    private final Histogram itl;
    private final Histogram duration;
    private final Histogram inputTokens;
    private final Histogram outputTokens;
    private final Histogram cachedTokens;
    private final Counter predictedCached;
    private final Counter actualCached;

    FrontendMetrics(IntSupplier inFlight, IntSupplier queued, WorkerSet workers) {
        requests = Counter.builder().name("tandem_frontend_requests_total")
                .help("Finished requests by endpoint and HTTP status (499: the client went away)")
                .labelNames("endpoint", "status").withoutExemplars().register(registry);
        GaugeWithCallback.builder().name("tandem_frontend_requests_in_flight")
                .help("Requests being served, queued or running")
                .callback(cb -> cb.call(inFlight.getAsInt())).register(registry);
        GaugeWithCallback.builder().name("tandem_frontend_requests_queued")
                .help("Requests waiting in the admission queue")
                .callback(cb -> cb.call(queued.getAsInt())).register(registry);
        ttft = latency("tandem_frontend_time_to_first_token_seconds", "Request arrival to its first token");
        itl = latency("tandem_frontend_inter_token_latency_seconds", "Time between consecutive tokens of a choice");
        duration = Histogram.builder().name("tandem_frontend_request_duration_seconds")
                .help("Request arrival to the last byte of the response").labelNames("endpoint")
                .classicUpperBounds(LATENCY_BUCKETS).classicOnly().withoutExemplars().register(registry);
        inputTokens = tokens("tandem_frontend_input_tokens", "Prompt tokens per request");
        outputTokens = tokens("tandem_frontend_output_tokens", "Generated tokens per request");
        cachedTokens = tokens("tandem_frontend_cached_tokens", "Prompt tokens served from a worker's prefix cache, per request");
        predictedCached = Counter.builder().name("tandem_frontend_predicted_cached_tokens")
                .help("Prompt tokens the router predicted to be cached on the chosen worker").withoutExemplars()
                .register(registry);
        actualCached = Counter.builder().name("tandem_frontend_actual_cached_tokens")
                .help("Prompt tokens the chosen workers reported cached").withoutExemplars().register(registry);
        GaugeWithCallback.builder().name("tandem_frontend_worker_kv_usage")
                .help("Fraction of a worker's KV blocks held by active sequences").labelNames("worker")
                .callback(cb -> {
                    for (Worker w : workers.all()) {
                        cb.call(safeLoad(w).kvUsage(), w.id());
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("tandem_frontend_worker_prefix_hit_rate")
                .help("A worker's cached prompt tokens / prompt tokens since it started").labelNames("worker")
                .callback(cb -> {
                    for (Worker w : workers.all()) {
                        cb.call(safeLoad(w).prefixHitRate(), w.id());
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("tandem_frontend_worker_kv_blocks")
                .help("A worker's KV blocks by state: free, cached (a reusable prefix), active (held by sequences)")
                .labelNames("worker", "state")
                .callback(cb -> {
                    for (Worker w : workers.all()) {
                        LoadReport l = safeLoad(w);
                        cb.call(Math.max(0, l.totalBlocks() - l.activeBlocks() - l.cachedBlocks()), w.id(), "free");
                        cb.call(l.cachedBlocks(), w.id(), "cached");
                        cb.call(l.activeBlocks(), w.id(), "active");
                    }
                }).register(registry);
        CounterWithCallback.builder().name("tandem_frontend_worker_prefix_cache_queries")
                .help("Prompt tokens a worker looked up in its prefix cache since it started").labelNames("worker")
                .callback(cb -> {
                    for (Worker w : workers.all()) {
                        cb.call(safeLoad(w).promptTokens(), w.id());
                    }
                }).register(registry);
        CounterWithCallback.builder().name("tandem_frontend_worker_prefix_cache_hits")
                .help("Prompt tokens a worker found in its prefix cache since it started").labelNames("worker")
                .callback(cb -> {
                    for (Worker w : workers.all()) {
                        cb.call(safeLoad(w).cachedPromptTokens(), w.id());
                    }
                }).register(registry);
        GaugeWithCallback.builder().name("tandem_frontend_worker_waiting")
                .help("Sequences waiting inside a worker").labelNames("worker")
                .callback(cb -> {
                    for (Worker w : workers.all()) {
                        cb.call(safeLoad(w).waitingSequences(), w.id());
                    }
                }).register(registry);
    }

    void requestFinished(String endpoint, int status, double seconds) {
        requests.labelValues(endpoint, Integer.toString(status)).inc();
        if (seconds >= 0) {
            duration.labelValues(endpoint).observe(seconds);
        }
    }

    void firstToken(double seconds) {
        ttft.observe(seconds);
    }

    void interToken(double seconds) {
        itl.observe(seconds);
    }

    void tokens(int input, int output, int cached, int predictedCachedTokens) {
        inputTokens.observe(input);
        outputTokens.observe(output);
        cachedTokens.observe(cached);
        predictedCached.inc(predictedCachedTokens);
        actualCached.inc(cached);
    }

    /** The registry behind {@code /metrics}, for metrics other parts register (disaggregation). */
    PrometheusRegistry registry() {
        return registry;
    }

    /** The Prometheus text exposition of every metric. */
    byte[] scrape() {
        ByteArrayOutputStream out = new ByteArrayOutputStream(8192);
        try {
            PrometheusTextFormatWriter.create().write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    static String contentType() {
        return PrometheusTextFormatWriter.CONTENT_TYPE;
    }

    private Histogram latency(String name, String help) {
        return Histogram.builder().name(name).help(help).classicUpperBounds(LATENCY_BUCKETS).classicOnly()
                .withoutExemplars().register(registry);
    }

    private Histogram tokens(String name, String help) {
        return Histogram.builder().name(name).help(help).classicUpperBounds(TOKEN_BUCKETS).classicOnly()
                .withoutExemplars().register(registry);
    }

    /** A worker that cannot report its load (gone, or failing) shows as idle rather than breaking a scrape. */
    private static LoadReport safeLoad(Worker w) {
        try {
            return w.load();
        } catch (RuntimeException e) {
            return LoadReport.IDLE;
        }
    }
}
