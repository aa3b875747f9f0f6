package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.FinishReason;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60)
class AdmissionAndLifecycleTest {
    private static final String STREAM_BODY = "{\"prompt\": \"a\", \"max_tokens\": 900, \"temperature\": 0,"
            + " \"stream\": true}";
    private Harness h;
    private final ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();

    @AfterEach
    void stop() {
        pool.shutdownNow();
        if (h != null) {
            h.close();
        }
    }

    @Test
    void apiKey_requiredOnV1Only() throws Exception {
        h = new Harness(1, c -> c.withApiKey("s3cret"));
        String body = "{\"prompt\": \"a\", \"max_tokens\": 1}";

        HttpResponse<String> none = h.post("/v1/completions", body);
        HttpResponse<String> wrong = send(HttpRequest.newBuilder(h.uri("/v1/completions"))
                .header("Authorization", "Bearer nope").POST(HttpRequest.BodyPublishers.ofString(body)));
        HttpResponse<String> right = send(HttpRequest.newBuilder(h.uri("/v1/completions"))
                .header("Authorization", "Bearer s3cret").POST(HttpRequest.BodyPublishers.ofString(body)));

        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(Harness.json(none.body()).get("error").get("code").asText()).isEqualTo("invalid_api_key");
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(right.statusCode()).isEqualTo(200);
        assertThat(h.get("/v1/models").statusCode()).isEqualTo(401);
        assertThat(h.get("/health").statusCode()).isEqualTo(200);
        assertThat(h.get("/metrics").statusCode()).isEqualTo(200);
    }

    @Test
    void admission_queueFull_429ThenQueuedRequestsComplete() throws Exception {
        h = new Harness(1, c -> c.withAdmission(1, 1));
        h.engine(0).hold();

        Future<HttpResponse<String>> running = pool.submit(() -> h.post("/v1/completions", STREAM_BODY));
        await().atMost(Duration.ofSeconds(10)).until(() -> h.server.runningSequences() == 1);
        Future<HttpResponse<String>> queued = pool.submit(() -> h.post("/v1/completions",
                "{\"prompt\": \"b\", \"max_tokens\": 3, \"temperature\": 0}"));
        await().atMost(Duration.ofSeconds(10)).until(() -> h.server.queued() == 1);
        HttpResponse<String> refused = h.post("/v1/completions", "{\"prompt\": \"c\", \"max_tokens\": 3}");
        h.engine(0).release();

        assertThat(refused.statusCode()).isEqualTo(429);
        JsonNode error = Harness.json(refused.body()).get("error");
        assertThat(error.get("code").asText()).isEqualTo("rate_limit_exceeded");
        assertThat(running.get().statusCode()).isEqualTo(200);
        assertThat(queued.get().statusCode()).isEqualTo(200);
        assertThat(Harness.json(queued.get().body()).get("choices").get(0).get("text").asText()).isEqualTo("Onc");
        assertThat(h.get("/metrics").body())
                .contains("tandem_frontend_requests_total{endpoint=\"completions\",status=\"429\"} 1");
    }

    @Test
    void admission_waitLongerThanQueueTimeout_503() throws Exception {
        h = new Harness(1, c -> c.withAdmission(1, 4).withTimeouts(300, 60_000, 30_000));
        h.engine(0).hold();

        Future<HttpResponse<String>> running = pool.submit(() -> h.post("/v1/completions", STREAM_BODY));
        await().atMost(Duration.ofSeconds(10)).until(() -> h.server.runningSequences() == 1);
        HttpResponse<String> timedOut = h.post("/v1/completions", "{\"prompt\": \"b\", \"max_tokens\": 3}");
        h.engine(0).release();

        assertThat(timedOut.statusCode()).isEqualTo(503);
        assertThat(Harness.json(timedOut.body()).get("error").get("message").asText()).contains("admission queue");
        assertThat(running.get().statusCode()).isEqualTo(200);
    }

    @Test
    void stream_clientDisconnects_generationCancelledAndBlocksReturned() throws Exception {
        h = new Harness(1);
        FakeEngine engine = h.engine(0);
        engine.pace();
        engine.allowSteps(3);

        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", h.server.port()), 5000);
            s.setSoTimeout(10_000);
            s.getOutputStream().write(RawHttp.post("/v1/completions", STREAM_BODY));
            InputStream in = s.getInputStream();
            String seen = "";
            while (!seen.contains("data: ") || seen.split("data: ").length < 3) {
                byte[] buf = new byte[4096];
                int n = in.read(buf);
                assertThat(n).isPositive();
                seen += new String(buf, 0, n, StandardCharsets.UTF_8);
            }
            assertThat(engine.freeBlocks()).isLessThan(256);
        }
        // the client is gone; the next writes fail and the frontend cancels the sequence
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(5)).until(() -> {
            engine.allowSteps(1);
            return engine.activeSequences() == 0;
        });

        assertThat(engine.finishes).containsExactly(FinishReason.CANCELLED);
        assertThat(engine.generatedCounts.peek()).isLessThan(900);
        assertThat(engine.freeBlocks()).isEqualTo(256);
        await().atMost(Duration.ofSeconds(5)).until(() -> h.get("/metrics").body()
                .contains("tandem_frontend_requests_total{endpoint=\"completions\",status=\"499\"} 1"));
    }

    @Test
    void close_inFlightRequestFinishesWithinGrace() throws Exception {
        h = new Harness(1, c -> c.withShutdownGraceMs(30_000));
        FakeEngine engine = h.engine(0);
        engine.pace();

        Future<HttpResponse<String>> inFlight = pool.submit(() -> h.post("/v1/completions",
                "{\"prompt\": \"a\", \"max_tokens\": 20, \"temperature\": 0, \"stream\": true}"));
        await().atMost(Duration.ofSeconds(10)).until(() -> engine.activeSequences() == 1);
        CompletableFuture<Void> closing = CompletableFuture.runAsync(h.server::close, pool);
        await().atMost(Duration.ofSeconds(10)).until(() -> h.get("/ready").statusCode() == 503);
        HttpResponse<String> refused = h.post("/v1/completions", "{\"prompt\": \"b\", \"max_tokens\": 1}");
        engine.allowSteps(100);

        assertThat(refused.statusCode()).isEqualTo(503);
        assertThat(inFlight.get().statusCode()).isEqualTo(200);
        assertThat(FrontendServerTest.streamedText(inFlight.get().body()))
                .isEqualTo(FakeEngine.GREEDY_TEXT.substring(0, 20));
        closing.get();
        assertThat(engine.finishes).containsExactly(FinishReason.LENGTH);
    }

    @Test
    void close_graceOver_runningRequestCancelledWith503() throws Exception {
        h = new Harness(1, c -> c.withShutdownGraceMs(200));
        FakeEngine engine = h.engine(0);
        engine.hold();

        Future<HttpResponse<String>> inFlight = pool.submit(() -> h.post("/v1/completions",
                "{\"prompt\": \"a\", \"max_tokens\": 20}"));
        await().atMost(Duration.ofSeconds(10)).until(() -> engine.activeSequences() == 1);
        h.server.close();

        assertThat(inFlight.get().statusCode()).isEqualTo(503);
        assertThat(Harness.json(inFlight.get().body()).get("error").get("message").asText()).contains("cancelled");
        assertThat(engine.finishes).containsExactly(FinishReason.CANCELLED);
        assertThat(engine.freeBlocks()).isEqualTo(256);
    }

    private HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
        return h.client.send(b.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
