package dev.tandem.bench;

import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A stand-in for {@code tandem serve} in its own JVM, for comparison tests: takes
 * {@code --workers N --router R --host H --port P} and {@code --prefill-workers P --decode-workers D},
 * refuses {@code --enforce-disagg} the way an older build would (exit 2, "Unknown option"), serves
 * /ready, /v1/models, /metrics and a chat endpoint that streams two chunks and reports cached
 * characters like a one-worker prefix cache. Disaggregated, it counts every request as prefilled
 * remotely with one 1 ms KV pull of 1,000 bytes, on /metrics as {@code tandem serve} names them.
 * With {@code --router kv} it answers 4 ms faster per request, so the comparison has a difference to
 * measure.
 */
public final class FakeServeMain {
    private FakeServeMain() {
    }

    public static void main(String[] args) throws Exception {
        System.setProperty("sun.net.httpserver.nodelay", "true");
        int port = 0;
        String router = "round-robin";
        boolean disaggregated = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--port" -> port = Integer.parseInt(args[++i]);
                case "--router" -> router = args[++i];
                case "--workers", "--host", "--model" -> i++;
                case "--prefill-workers", "--decode-workers" -> {
                    disaggregated = true;
                    i++;
                }
                default -> {
                    System.err.println("Unknown option: '" + args[i] + "'");
                    System.exit(2);
                }
            }
        }
        long delayMs = router.equals("kv") ? 2 : 6;
        Set<String> seen = ConcurrentHashMap.newKeySet();
        AtomicLong remote = new AtomicLong();
        boolean split = disaggregated;
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 64);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/ready", ex -> reply(ex, 200, "{\"status\":\"ready\"}", "application/json"));
        server.createContext("/v1/models", ex -> reply(ex, 200, "{\"data\":[{\"id\":\"fake-serve\"}]}",
                "application/json"));
        server.createContext("/metrics", ex -> reply(ex, 200, !split ? "# no disaggregation\n"
                : "# TYPE tandem_kv_transfer_seconds_total counter\n"
                + "tandem_kv_transfer_seconds_total{transport=\"local\"} " + remote.get() / 1e3 + "\n"
                + "tandem_kv_transfer_pulls_total{transport=\"local\"} " + remote.get() + "\n"
                + "tandem_kv_transfer_bytes_total{transport=\"local\"} " + remote.get() * 1000 + "\n"
                + "tandem_disagg_requests_total{path=\"remote\",reason=\"remote\"} " + remote.get() + "\n"
                + "tandem_disagg_requests_total{path=\"local\",reason=\"short_prompt\"} 0\n", "text/plain"));
        server.createContext("/v1/chat/completions", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            int cached = 0;
            for (int end = 8; end <= body.length(); end += 8) {
                if (!seen.contains(body.substring(0, end))) {
                    break;
                }
                cached = end;
            }
            for (int end = 8; end <= body.length(); end += 8) {
                seen.add(body.substring(0, end));
            }
            remote.incrementAndGet();
            ex.getResponseHeaders().set("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            try (OutputStream out = ex.getResponseBody()) {
                for (String chunk : new String[] {"{\"choices\":[{\"delta\":{\"content\":\"a\"}}]}",
                    "{\"choices\":[{\"delta\":{\"content\":\"b\"}}]}",
                    "{\"choices\":[],\"usage\":{\"prompt_tokens\":" + body.length() + ",\"completion_tokens\":2,"
                            + "\"prompt_tokens_details\":{\"cached_tokens\":" + cached + "}}}", "[DONE]"}) {
                    Thread.sleep(delayMs);
                    out.write(("data: " + chunk + "\n\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        server.start();
        System.out.println("fake serve listening on " + port);
    }

    private static void reply(com.sun.net.httpserver.HttpExchange ex, int status, String body, String type)
            throws java.io.IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, b.length);
        ex.getResponseBody().write(b);
        ex.close();
    }
}
