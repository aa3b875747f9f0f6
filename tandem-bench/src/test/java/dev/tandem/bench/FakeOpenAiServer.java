package dev.tandem.bench;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;

/**
 * A small OpenAI-shaped HTTP server for tests, on a loopback ephemeral port: each test supplies
 * how to answer {@code POST /v1/...}; {@code GET /v1/models} lists one model. Streams are written
 * chunk by chunk with explicit flushes (TCP_NODELAY on), so chunk timing is the handler's.
 */
final class FakeOpenAiServer implements AutoCloseable {
    static {
        System.setProperty("sun.net.httpserver.nodelay", "true");
    }

    /** Answers one completion request. */
    interface Responder {
        void respond(HttpExchange exchange, String body) throws Exception;
    }

    final ConcurrentLinkedQueue<String> bodies = new ConcurrentLinkedQueue<>();
    private final HttpServer server;

    FakeOpenAiServer(Responder responder) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/v1/models", ex -> {
            byte[] b = "{\"object\":\"list\",\"data\":[{\"id\":\"fake-model\",\"object\":\"model\",\"owned_by\":\"test\"}]}"
                    .getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        server.createContext("/v1/", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            bodies.add(body);
            try {
                responder.respond(ex, body);
            } catch (Exception e) {
                // the client went away or the test stopped the server: nothing to answer
            } finally {
                ex.close();
            }
        });
        server.start();
    }

    String url() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    /** Starts an SSE response and writes {@code events} as {@code data: ...\n\n}, sleeping {@code gapMs} before each. */
    static void sse(HttpExchange ex, long gapMs, List<String> events) throws IOException, InterruptedException {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream");
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        for (String e : events) {
            Thread.sleep(gapMs);
            out.write(("data: " + e + "\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }

    /** A completions chunk carrying {@code text}. */
    static String text(String text) {
        return "{\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"" + text + "\",\"finish_reason\":null}]}";
    }

    /** A chat chunk carrying {@code text}. */
    static String delta(String text) {
        return "{\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + text
                + "\"}}]}";
    }

    static String usage(int prompt, int completion, int cached) {
        return "{\"choices\":[],\"usage\":{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion
                + ",\"total_tokens\":" + (prompt + completion) + ",\"prompt_tokens_details\":{\"cached_tokens\":"
                + cached + "}}}";
    }

    static void json(HttpExchange ex, int status, String json) throws IOException {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
