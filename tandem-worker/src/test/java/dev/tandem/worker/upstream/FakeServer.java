package dev.tandem.worker.upstream;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.function.IntUnaryOperator;

/**
 * A scripted HTTP server on a real loopback socket: each path answers as the test says. Stands in
 * for an upstream server to test the adapter's side of the protocol (errors, cut streams,
 * deadlines, malformed data); the real llama-server is in the system tests.
 */
final class FakeServer implements AutoCloseable {
    private final HttpServer server;
    private final Map<String, HttpHandler> routes = new ConcurrentHashMap<>();
    /** Request bodies received, by path. */
    final List<String> bodies = new CopyOnWriteArrayList<>();

    FakeServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/", exchange -> {
            HttpHandler h = routes.get(exchange.getRequestURI().getPath());
            if (exchange.getRequestMethod().equals("POST")) {
                bodies.add(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
            }
            if (h == null) {
                answer(exchange, 404, "{\"error\":{\"code\":404,\"message\":\"File Not Found\",\"type\":\"not_found_error\"}}");
            } else {
                h.handle(exchange);
            }
        });
        server.start();
    }

    /** A llama-server: /props with two slots of {@code context} positions each. */
    static FakeServer llamaServer(int context) throws IOException {
        FakeServer s = new FakeServer();
        s.route("/props", e -> answer(e, 200, "{\"total_slots\":2,\"default_generation_settings\":{\"n_ctx\":"
                + context + "}}"));
        s.route("/health", e -> answer(e, 200, "{\"status\":\"ok\"}"));
        return s;
    }

    FakeServer route(String path, HttpHandler handler) {
        routes.put(path, handler);
        return this;
    }

    /** Answers {@code path} with these SSE data lines, then ends the stream. */
    FakeServer stream(String path, String... data) {
        return route(path, e -> {
            e.getResponseHeaders().add("Content-Type", "text/event-stream");
            e.sendResponseHeaders(200, 0);
            try (OutputStream out = e.getResponseBody()) {
                for (String d : data) {
                    out.write(("data: " + d + "\n\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            }
        });
    }

    /**
     * Answers {@code path} with a stream of llama-server chunks, the i-th carrying token
     * {@code tokenAt(i)}, every 5 ms until the client closes it, which counts down {@code closed}.
     */
    FakeServer endlessStream(String path, IntUnaryOperator tokenAt, CountDownLatch closed) {
        return route(path, e -> {
            e.sendResponseHeaders(200, 0);
            OutputStream out = e.getResponseBody();
            try {
                for (int i = 0; i < 2_000; i++) {
                    out.write(("data: {\"tokens\":[" + tokenAt.applyAsInt(i) + "],\"stop\":false}\n\n")
                            .getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    Thread.sleep(5);
                }
            } catch (IOException | InterruptedException gone) {
                closed.countDown();
            }
        });
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    static void answer(HttpExchange e, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        e.getResponseHeaders().add("Content-Type", "application/json");
        e.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = e.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
