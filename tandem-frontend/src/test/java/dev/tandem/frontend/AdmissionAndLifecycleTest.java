package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.FinishReason;
import dev.tandem.engine.mock.TimingProfile;
import java.io.IOException;
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
import java.text.MessageFormat;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.UnaryOperator;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Admission, API keys, disconnects and shutdown. Requests must run long enough to be caught in
 * the act, so the workers are mock engines (the real scheduler and block manager, with Dynamo's
 * simulated step times: about 6 ms per decode step, so 2,000 tokens take over ten seconds).
 */
@Timeout(60)
class AdmissionAndLifecycleTest {
    private static final String LONG_STREAM = "{\"prompt\": \"a\", \"max_tokens\": 2000, \"temperature\": 0,"
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

    private void start(UnaryOperator<FrontendConfig> config) {
        h = Harness.mock(1, TimingProfile.DYNAMO, config);
    }

    @Test
    void apiKey_requiredOnV1Only() throws Exception {
        start(c -> c.withApiKey("s3cret"));
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
        assertThat(h.get("/ready").statusCode()).isEqualTo(200);
        assertThat(h.get("/metrics").statusCode()).isEqualTo(200);
    }

    @Test
    void admission_queueFull_429_thenQueuedRequestRunsWhenSlotFrees() throws Exception {
        start(c -> c.withAdmission(1, 1));
        Future<HttpResponse<String>> queued;
        HttpResponse<String> refused;
        try (Socket running = openStream(LONG_STREAM)) {
            await().atMost(Duration.ofSeconds(10)).until(() -> h.server.runningSequences() == 1);
            queued = pool.submit(() -> h.post("/v1/completions", "{\"prompt\": \"b\", \"max_tokens\": 3}"));
            await().atMost(Duration.ofSeconds(10)).until(() -> h.server.queued() == 1);

            refused = h.post("/v1/completions", "{\"prompt\": \"c\", \"max_tokens\": 3}");
        }
        // the running client left: its slot frees and the queued request runs

        assertThat(refused.statusCode()).isEqualTo(429);
        assertThat(Harness.json(refused.body()).get("error").get("code").asText()).isEqualTo("rate_limit_exceeded");
        assertThat(queued.get().statusCode()).isEqualTo(200);
        assertThat(Harness.json(queued.get().body()).get("usage").get("completion_tokens").asInt()).isEqualTo(3);
        assertThat(h.get("/metrics").body())
                .contains("tandem_frontend_requests_total{endpoint=\"completions\",status=\"429\"} 1");
    }

    @Test
    void admission_waitLongerThanQueueTimeout_503() throws Exception {
        start(c -> c.withAdmission(1, 4).withTimeouts(300, 60_000, 30_000));
        HttpResponse<String> timedOut;
        try (Socket running = openStream(LONG_STREAM)) {
            await().atMost(Duration.ofSeconds(10)).until(() -> h.server.runningSequences() == 1);
            timedOut = h.post("/v1/completions", "{\"prompt\": \"b\", \"max_tokens\": 3}");
        }

        assertThat(timedOut.statusCode()).isEqualTo(503);
        assertThat(Harness.json(timedOut.body()).get("error").get("message").asText()).contains("admission queue");
    }

    @Test
    void ready_noWorkerYet_503OnReadyAndRequests_untilOneJoins() throws Exception {
        h = Harness.mock(0, TimingProfile.DYNAMO.withSpeedup(1e6), c -> c);

        HttpResponse<String> notReady = h.get("/ready");
        HttpResponse<String> refused = h.post("/v1/completions", "{\"prompt\": \"a\", \"max_tokens\": 2}");
        h.addWorker("late");
        HttpResponse<String> ready = h.get("/ready");
        HttpResponse<String> served = h.post("/v1/completions", "{\"prompt\": \"a\", \"max_tokens\": 2}");

        assertThat(notReady.statusCode()).isEqualTo(503);
        assertThat(Harness.json(notReady.body()).get("error").get("message").asText()).contains("No worker");
        assertThat(h.get("/health").statusCode()).isEqualTo(200);
        assertThat(refused.statusCode()).isEqualTo(503);
        JsonNode error = Harness.json(refused.body()).get("error");
        assertThat(error.get("type").asText()).isEqualTo("server_error");
        assertThat(error.get("code").asText()).isEqualTo("service_unavailable");
        assertThat(error.get("message").asText()).contains("No worker serves model '" + Harness.MOCK + "'");
        assertThat(ready.statusCode()).isEqualTo(200);
        assertThat(served.statusCode()).isEqualTo(200);
        assertThat(h.get("/metrics").body())
                .contains("tandem_frontend_requests_total{endpoint=\"completions\",status=\"503\"} 1");
    }

    /** Clients that leave at once, before any byte of the answer, went away: 499, never 408. */
    @Test
    void clientsLeaveAtOnce_countedAs499() throws Exception {
        start(c -> c);
        RecordingEngine engine = h.engine(0);
        for (String body : List.of(LONG_STREAM, "{\"prompt\": \"a\", \"max_tokens\": 50, \"temperature\": 0}")) {
            try (Socket s = openStream(body)) {
                s.setSoLinger(true, 0); // leave with a reset, without reading anything
            }
        }

        await().atMost(Duration.ofSeconds(20)).until(() -> engine.unfinished.get() == 0);
        await().atMost(Duration.ofSeconds(10)).until(() -> h.get("/metrics").body()
                .contains("tandem_frontend_requests_total{endpoint=\"completions\",status=\"499\"} 2"));
        assertThat(h.get("/metrics").body()).doesNotContain("status=\"408\"");
    }

    @Test
    void stream_clientDisconnects_generationCancelledAndBlocksReturned() throws Exception {
        start(c -> c);
        RecordingEngine engine = h.engine(0);
        Logger log = Logger.getLogger(CompletionHandler.class.getName());
        List<String> logged = new CopyOnWriteArrayList<>();
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                logged.add(r.getLevel() + " " + MessageFormat.format(r.getMessage(), r.getParameters()));
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        log.addHandler(capture);
        try (Socket s = openStream(LONG_STREAM)) {
            InputStream in = s.getInputStream();
            String seen = "";
            while (seen.split("data: ").length < 4) {
                byte[] buf = new byte[4096];
                int n = in.read(buf);
                assertThat(n).isPositive();
                seen += new String(buf, 0, n, StandardCharsets.UTF_8);
            }
            assertThat(h.activeBlocks()).isPositive();
        }

        await().atMost(Duration.ofSeconds(20)).until(() -> engine.unfinished.get() == 0);
        assertThat(engine.finishes).containsExactly(FinishReason.CANCELLED);
        assertThat(engine.generated.peek()).isLessThan(2000);
        await().atMost(Duration.ofSeconds(5)).until(() -> h.activeBlocks() == 0);
        await().atMost(Duration.ofSeconds(5)).until(() -> h.get("/metrics").body()
                .contains("tandem_frontend_requests_total{endpoint=\"completions\",status=\"499\"} 1"));
        log.removeHandler(capture);
        assertThat(logged).singleElement().asString().startsWith("INFO [req=cmpl-")
                .contains("client disconnected (499), generation cancelled");
    }

    @Test
    void close_inFlightRequestFinishesWithinGrace_newOnesRefused() throws Exception {
        start(c -> c.withShutdownGraceMs(30_000));
        RecordingEngine engine = h.engine(0);

        Future<HttpResponse<String>> inFlight = pool.submit(() -> h.post("/v1/completions",
                "{\"prompt\": \"a\", \"max_tokens\": 150, \"temperature\": 0, \"stream\": true}"));
        await().atMost(Duration.ofSeconds(10)).until(() -> engine.unfinished.get() == 1);
        CompletableFuture<Void> closing = CompletableFuture.runAsync(h.server::close, pool);
        await().atMost(Duration.ofSeconds(10)).until(() -> h.get("/ready").statusCode() == 503);
        HttpResponse<String> refused = h.post("/v1/completions", "{\"prompt\": \"b\", \"max_tokens\": 1}");

        assertThat(refused.statusCode()).isEqualTo(503);
        assertThat(inFlight.get().statusCode()).isEqualTo(200);
        assertThat(inFlight.get().body()).endsWith("data: [DONE]\n\n");
        closing.get();
        assertThat(engine.finishes).containsExactly(FinishReason.LENGTH);
        assertThat(engine.generated).containsExactly(150);
    }

    @Test
    void close_graceOver_runningRequestCancelledWith503AndBlocksReturned() throws Exception {
        start(c -> c.withShutdownGraceMs(200));
        RecordingEngine engine = h.engine(0);

        Future<HttpResponse<String>> inFlight = pool.submit(() -> h.post("/v1/completions",
                "{\"prompt\": \"a\", \"max_tokens\": 2000}"));
        await().atMost(Duration.ofSeconds(10)).until(() -> engine.unfinished.get() == 1);
        h.server.close();

        assertThat(inFlight.get().statusCode()).isEqualTo(503);
        JsonNode error = Harness.json(inFlight.get().body()).get("error");
        assertThat(error.get("message").asText()).contains("cancelled");
        assertThat(engine.finishes).containsExactly(FinishReason.CANCELLED);
        await().atMost(Duration.ofSeconds(5)).until(() -> h.activeBlocks() == 0);
    }

    /** Starts a streamed request on a raw socket (the caller closes it to disconnect). */
    private Socket openStream(String body) throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", h.server.port()), 5000);
        s.setSoTimeout(20_000);
        s.getOutputStream().write(RawHttp.post("/v1/completions", body));
        s.getOutputStream().flush();
        return s;
    }

    private HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
        return h.client.send(b.timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
    }
}
