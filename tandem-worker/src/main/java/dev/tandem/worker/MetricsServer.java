package dev.tandem.worker;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.tandem.core.ConfigException;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;

/**
 * A worker's {@code GET /metrics} (Prometheus text format) on its own small HTTP listener: the
 * JDK's server on a virtual-thread executor, since a scrape every few seconds needs nothing more.
 * {@code GET /health} answers 200 while the listener runs; {@code GET /ready} answers 200 while
 * the worker is registered and not draining ({@link #readyWhen}: a sidecar whose external server
 * stopped answering has left the registry, so it is not ready either), 503 otherwise (for
 * orchestrators' readiness probes). Any other path is 404. Safe for concurrent use;
 * {@link #close()} stops it.
 */
public final class MetricsServer implements AutoCloseable {
    private final HttpServer server;
    private final ExecutorService executor;
    /** Asked on every {@code /ready}: set by the worker once registered, cleared when it starts draining. */
    private volatile BooleanSupplier ready = () -> false;

    private MetricsServer(HttpServer server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /**
     * Listens on {@code host:port} (0 for any free port).
     *
     * @throws ConfigException if the port cannot be bound
     */
    public static MetricsServer start(String host, int port, PrometheusRegistry registry) {
        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress(host, port), 16);
        } catch (IOException e) {
            throw new ConfigException("cannot listen for metrics on " + host + ":" + port + ": " + e.getMessage(), e);
        }
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        server.setExecutor(executor);
        MetricsServer metrics = new MetricsServer(server, executor);
        server.createContext("/", exchange -> metrics.serve(exchange, registry));
        server.start();
        return metrics;
    }

    /** Whether {@code /ready} answers 200 (registered, not draining) or 503. */
    public void ready(boolean isReady) {
        this.ready = () -> isReady;
    }

    /** {@code /ready} answers 200 while {@code condition} holds (asked on every request), else 503. */
    public void readyWhen(BooleanSupplier condition) {
        this.ready = condition;
    }

    private void serve(HttpExchange exchange, PrometheusRegistry registry) throws IOException {
        try (exchange) {
            String path = exchange.getRequestURI().getPath();
            if (!exchange.getRequestMethod().equals("GET")) {
                exchange.sendResponseHeaders(405, -1);
                return;
            }
            switch (path) {
                case "/health" -> {
                    exchange.sendResponseHeaders(200, -1);
                    return;
                }
                case "/ready" -> {
                    exchange.sendResponseHeaders(ready.getAsBoolean() ? 200 : 503, -1);
                    return;
                }
                case "/metrics" -> {
                }
                default -> {
                    exchange.sendResponseHeaders(404, -1);
                    return;
                }
            }
            ByteArrayOutputStream body = new ByteArrayOutputStream(8192);
            PrometheusTextFormatWriter.create().write(body, registry.scrape());
            exchange.getResponseHeaders().set("Content-Type", PrometheusTextFormatWriter.CONTENT_TYPE);
            exchange.sendResponseHeaders(200, body.size());
            try (OutputStream out = exchange.getResponseBody()) {
                body.writeTo(out);
            }
        }
    }

    /** The bound port. */
    public int port() {
        return server.getAddress().getPort();
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
