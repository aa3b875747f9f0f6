package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Slow, half-open and too many connections, over raw sockets: each is closed or held back
 * within the configured bounds (idle timeout 1 s, 4 connections at most).
 */
@Timeout(60)
class ConnectionLimitsTest {
    private static final int MAX_CONNECTIONS = 4;
    private static Harness h;

    @BeforeAll
    static void start() {
        h = Harness.stories(1, c -> c.withConnections(MAX_CONNECTIONS, 1_000).withReadTimeoutMs(1_000));
    }

    @AfterAll
    static void stop() {
        h.close();
    }

    private static Socket connect() throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", h.server.port()), 5000);
        return s;
    }

    @Test
    void halfSentRequestLine_closedAfterTheIdleTimeout() throws IOException {
        try (Socket s = connect()) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write("GET /hea".getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            assertThat(s.getInputStream().read()).as("closed by the server, not by our 20 s timeout").isEqualTo(-1);
        }
    }

    @Test
    void halfSentHeaders_closedAfterTheReadTimeout() throws IOException {
        try (Socket s = connect()) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Ty"
                    .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            assertThat(s.getInputStream().read()).as("closed by the server, not by our 20 s timeout").isEqualTo(-1);
        }
    }

    @Test
    void idleKeepAliveConnection_closedAfterTheIdleTimeout() throws IOException {
        try (Socket s = connect()) {
            s.setSoTimeout(20_000);
            s.getOutputStream().write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            assertThat(RawHttp.read(in).status()).isEqualTo(200);
            assertThat(in.read()).as("closed by the server after being idle").isEqualTo(-1);
        }
    }

    @Test
    void moreConnectionsThanTheLimit_theExtraOneWaitsUntilOneCloses() throws Exception {
        List<Socket> held = new ArrayList<>();
        try {
            for (int i = 0; i < MAX_CONNECTIONS; i++) {
                Socket s = connect();
                s.getOutputStream().write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                s.setSoTimeout(20_000);
                assertThat(RawHttp.read(s.getInputStream()).status()).isEqualTo(200);
                held.add(s); // kept alive, holding a connection slot
            }
            try (Socket extra = connect()) {
                extra.setSoTimeout(300);
                extra.getOutputStream().write("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.US_ASCII));
                boolean answered;
                try {
                    answered = extra.getInputStream().read() >= 0;
                } catch (SocketTimeoutException e) {
                    answered = false;
                }
                assertThat(answered).as("served while " + MAX_CONNECTIONS + " connections are open").isFalse();
                held.removeFirst().close();
                extra.setSoTimeout(20_000);
                // served once a slot is free (the closed one, or the idle ones the server closes)
                assertThat(RawHttp.read(extra.getInputStream()).status()).isEqualTo(200);
            }
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }
}
