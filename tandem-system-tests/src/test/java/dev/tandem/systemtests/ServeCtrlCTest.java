package dev.tandem.systemtests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Ctrl-C on {@code tandem serve} in its own JVM: SIGINT while a stream is running. The stream is
 * ended properly (cancelled after the grace period: an error event, then [DONE]), the process
 * prints "Tandem stopped" and exits, and its log holds no stack trace.
 */
@Timeout(180)
class ServeCtrlCTest {
    @Test
    void serve_sigintWhileStreaming_streamEndedAndProcessExitsCleanly() throws Exception {
        Path model = Path.of(System.getProperty("tandem.test.models"), "stories260K.gguf");
        try (ServeProcess serve = ServeProcess.start("ctrl-c", "--model", model.toString(), "--port", "0",
                "--workers", "1", "--kv-blocks", "256", "--mock", "--mock-speedup", "0.05", "--shutdown-grace-ms", "300");
             HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build()) {
            String url = serve.awaitUrl(120);
            // the mock slowed 20x (about 0.1 s per decode step): 400 tokens outlast the grace period by far
            // the response's headers come with its first chunk: SIGINT after that finds a stream under way
            // (before it, the request would end as a 503, as any request cancelled before its first chunk)
            HttpResponse<java.util.stream.Stream<String>> r = client.send(HttpRequest.newBuilder(
                    URI.create(url + "/v1/completions")).timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Once\", \"max_tokens\": 400, "
                            + "\"ignore_eos\": true, \"stream\": true}")).build(), HttpResponse.BodyHandlers.ofLines());
            assertThat(r.statusCode()).isEqualTo(200);
            awaitInFlight(client, url);

            boolean exited = serve.interrupt(60);

            assertThat(exited).as("tandem serve exits after SIGINT; log:%n%s", serve.logText()).isTrue();
            assertThat(serve.stdout()).contains("Tandem stopped");
            List<String> lines = r.body().filter(line -> !line.isEmpty()).toList();
            assertThat(String.join("\n", lines)).contains("\"error\"").contains("cancelled");
            assertThat(lines.getLast()).isEqualTo("data: [DONE]");
            assertThat(serve.logText()).doesNotContain("Exception", "\tat ");
        }
    }

    /** Waits until the server reports one request in flight. */
    private static void awaitInFlight(HttpClient client, String url) {
        await().atMost(Duration.ofSeconds(30)).until(() -> client.send(HttpRequest.newBuilder(
                URI.create(url + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body()
                .contains("tandem_frontend_requests_in_flight 1.0"));
    }
}
