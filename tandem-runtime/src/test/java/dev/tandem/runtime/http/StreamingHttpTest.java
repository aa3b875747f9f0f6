package dev.tandem.runtime.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StreamingHttpTest {
    private static final byte[] BODY = "{}".getBytes(StandardCharsets.UTF_8);

    private static String call(StreamingHttp http, String url) throws IOException {
        try (StreamingHttp.Exchange x = http.post(URI.create(url + "/v1/completions"), BODY, List.of(), false, e -> { })) {
            return x.status() + " " + x.lines().text(1_000).strip();
        }
    }

    /**
     * A server that closes each connection after its answer without saying so: the call that finds
     * its pooled connection dead goes again on a new one, and from then on calls ask to close.
     */
    @Test
    void post_pooledConnectionClosedByTheServer_sentAgain_andLaterCallsAskToClose() throws Exception {
        try (ClosingServer server = ClosingServer.start(Map.of("POST /v1/completions", "data: [DONE]"));
             StreamingHttp http = new StreamingHttp(2_000, 5_000)) {
            for (int i = 0; i < 4; i++) {
                assertThat(call(http, server.url())).as("call %d", i).isEqualTo("200 data: [DONE]");
            }

            assertThat(server.connections()).isEqualTo(4);
            // call 1 found its pooled connection dead (the server never read it) and went again
            assertThat(server.askedToClose()).as("once seen, the server is asked to close")
                    .containsExactly(false, true, true, true);
        }
    }

    @Test
    void post_closeAfter_askedOnEveryCall_andARefusedConnectionIsNotRetried() throws Exception {
        String url;
        try (ClosingServer server = ClosingServer.start(Map.of("POST /v1/completions", "data: x"));
             StreamingHttp http = new StreamingHttp(2_000, 5_000)) {
            for (int i = 0; i < 2; i++) {
                try (StreamingHttp.Exchange x = http.post(URI.create(server.url() + "/v1/completions"), BODY,
                        List.of("X-Request-Id", "r" + i), true, e -> { })) {
                    assertThat(x.status()).isEqualTo(200);
                    assertThat(x.lines().next()).isEqualTo("data: x");
                }
            }
            assertThat(server.askedToClose()).containsExactly(true, true);
            url = server.url();
        }
        try (StreamingHttp http = new StreamingHttp(2_000, 5_000)) {
            assertThatThrownBy(() -> call(http, url)).isInstanceOf(ConnectException.class);
        }
    }
}
