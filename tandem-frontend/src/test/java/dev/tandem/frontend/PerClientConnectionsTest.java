package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** One client address holds at most {@code --max-connections-per-client} connections; one more gets 429. */
@Timeout(60)
class PerClientConnectionsTest {
    private static final int PER_CLIENT = 3;
    private static final byte[] HEALTH = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    private static Harness h;

    @BeforeAll
    static void start() {
        h = Harness.stories(1, c -> c.withMaxConnectionsPerClient(PER_CLIENT));
    }

    @AfterAll
    static void stop() {
        h.close();
    }

    private static Socket openServed() throws IOException {
        Socket s = new Socket();
        s.connect(new InetSocketAddress("127.0.0.1", h.server.port()), 5000);
        s.setSoTimeout(20_000);
        s.getOutputStream().write(HEALTH);
        return s;
    }

    @Test
    void oneConnectionOverTheLimit_gets429AndIsClosed_andASlotFreesWhenOneCloses() throws Exception {
        List<Socket> held = new ArrayList<>();
        try {
            for (int i = 0; i < PER_CLIENT; i++) {
                Socket s = openServed();
                assertThat(RawHttp.read(s.getInputStream()).status()).isEqualTo(200);
                held.add(s);
            }
            try (Socket extra = openServed()) {
                RawHttp.Response r = RawHttp.read(extra.getInputStream());
                assertThat(r.status()).isEqualTo(429);
                assertThat(r.body()).contains("too_many_connections");
                assertThat(extra.getInputStream().read()).as("closed after the 429").isEqualTo(-1);
            }
            held.removeFirst().close();
            // the server counts the closed connection out once its handler sees the end of it
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).untilAsserted(() -> {
                try (Socket again = openServed()) {
                    assertThat(RawHttp.read(again.getInputStream()).status()).isEqualTo(200);
                }
            });
        } finally {
            for (Socket s : held) {
                s.close();
            }
        }
    }
}
