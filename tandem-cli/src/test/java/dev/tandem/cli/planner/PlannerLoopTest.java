package dev.tandem.cli.planner;

import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * The loop over a real HTTP endpoint that serves a frontend's metrics, with first tokens that
 * take 2.5 to 5 s: the planner asks for a second prefill worker, printed as a kubectl command.
 */
class PlannerLoopTest {
    private HttpServer server;
    private final AtomicInteger scrapes = new AtomicInteger();

    @BeforeEach
    void serveMetrics() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 8);
        server.createContext("/metrics", exchange -> {
            int slow = 100 * scrapes.incrementAndGet();
            byte[] body = """
                    tandem_frontend_time_to_first_token_seconds_bucket{le="2.5"} 0
                    tandem_frontend_time_to_first_token_seconds_bucket{le="5.0"} %d
                    tandem_frontend_time_to_first_token_seconds_bucket{le="+Inf"} %d
                    tandem_frontend_requests_queued 0
                    tandem_frontend_workers{role="prefill"} 1.0
                    tandem_frontend_workers{role="decode"} 1.0
                    """.formatted(slow, slow).getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    @Test
    void slowFirstTokens_askForAPrefillWorker_printedForKubernetes() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        PlannerConfig config = new PlannerConfig(1000, 100, 1, 4, 1, 4, 60_000, 60_000, 0.5, 4, 10_000);
        ReplicaPrinter printer = new ReplicaPrinter(out, "test", 1, 1);
        String url = "http://127.0.0.1:" + server.getAddress().getPort();

        try (PlannerLoop loop = PlannerLoop.start(config, url, printer, out, 50)) {
            await().atMost(Duration.ofSeconds(30)).until(() -> bytes.toString(StandardCharsets.UTF_8)
                    .contains("kubectl -n test scale deployment/tandem-prefill --replicas=2"));
            assertThat(loop.decisions()).isEqualTo(1);
        }

        String printed = bytes.toString(StandardCharsets.UTF_8);
        assertThat(printed).contains("p95 TTFT").contains("prefill 1 -> 2").doesNotContain("tandem-decode");
        assertThat(printer.size(Pool.PREFILL)).isEqualTo(2); // the cooldown holds it there
        assertThat(printed).containsOnlyOnce("--replicas=");
    }

    @Test
    void anUnreachableFrontend_isReportedAndPlanningGoesOn() throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        PlannerConfig config = new PlannerConfig(1000, 100, 1, 4, 1, 4, 0, 0, 0.5, 4, 10_000);
        int closedPort;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = s.getLocalPort();
        }

        try (PlannerLoop loop = PlannerLoop.start(config, "http://127.0.0.1:" + closedPort,
                new ReplicaPrinter(out, "test", 1, 1), out, 50)) {
            await().atMost(Duration.ofSeconds(30)).until(() -> bytes.toString(StandardCharsets.UTF_8)
                    .split("cannot scrape", -1).length > 2);
            assertThat(loop.decisions()).isZero();
        }
    }
}
