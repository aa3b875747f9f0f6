package dev.tandem.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code tandem serve --upstream}: Tandem's frontend and router in front of two real llama-server
 * processes on stories260K.
 */
class UpstreamServeTest {
    private static final ObjectMapper JSON = UpstreamChecks.JSON;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
        http.close();
    }

    private Path dir() throws Exception {
        Path target = Path.of("target", "system-tests").toAbsolutePath();
        Files.createDirectories(target);
        return Files.createTempDirectory(target, "upstream-serve-");
    }

    private List<LlamaServer> servers(Path dir, int n) throws Exception {
        List<LlamaServer> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            LlamaServer s = LlamaServer.start(dir, "llama-server-" + i);
            open.add(s);
            out.add(s);
        }
        return out;
    }

    private String serve(String name, List<LlamaServer> servers, String router) throws Exception {
        List<String> args = new ArrayList<>(List.of("--model", ClusterFixture.modelFile(), "--port", "0",
                "--router", router));
        for (LlamaServer s : servers) {
            args.addAll(List.of("--upstream", s.url));
        }
        ServeProcess serve = ServeProcess.start(name, args.toArray(String[]::new));
        open.add(serve);
        return serve.awaitUrl(120);
    }

    @Test
    void greedyText_throughTandem_equalsLlamaServersOwn() throws Exception {
        Path dir = dir();
        List<LlamaServer> servers = servers(dir, 2);
        String tandem = serve("upstream-greedy", servers, "kv");

        UpstreamChecks.assertGreedyTextIsTheServersOwn(http, tandem, servers.getFirst(),
                List.of("Once upon a time", "The little dog ran to the park and",
                        "Lily and Ben were friends. One day they found a box. Inside the box"), 48);

        // response_format reaches llama-server's own structured output (json_schema): valid JSON back
        String schema = "{\"type\":\"object\",\"properties\":{\"mood\":{\"enum\":[\"happy\",\"sad\"]}},"
                + "\"required\":[\"mood\"],\"additionalProperties\":false}";
        ObjectNode body = JSON.createObjectNode().put("model", "stories260K")
                .put("max_tokens", 64).put("temperature", 0);
        body.putArray("messages").addObject().put("role", "user").put("content", "How does the dog feel?");
        body.putObject("response_format").put("type", "json_schema").putObject("json_schema").put("name", "mood")
                .set("schema", JSON.readTree(schema));
        JsonNode answer = UpstreamChecks.post(http, tandem + "/v1/chat/completions", body.toString());
        assertThat(answer.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
        JsonNode value = JSON.readTree(answer.at("/choices/0/message/content").asText());
        assertThat(value.get("mood").asText()).isIn("happy", "sad");
        assertThat(value.size()).isEqualTo(1);
    }

    @Test
    void conversations_returnToTheServerThatHoldsThem() throws Exception {
        Path dir = dir();
        String tandem = serve("upstream-conversations", servers(dir, 2), "kv");
        UpstreamChecks.assertConversationsReturnToTheirServer(http, tandem);
    }

    @Test
    void killedServer_leavesTheRouter_andItsStreamsMigrate() throws Exception {
        Path dir = dir();
        List<LlamaServer> servers = servers(dir, 2);
        String tandem = serve("upstream-kill", servers, "round-robin");
        int streams = 4;
        int maxTokens = 700;
        CountDownLatch started = new CountDownLatch(streams);
        List<CompletableFuture<int[]>> results = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            String body = JSON.createObjectNode().put("model", "stories260K").put("prompt", "Story " + i + ":")
                    .put("max_tokens", maxTokens).put("temperature", 0).put("ignore_eos", true).put("stream", true)
                    .set("stream_options", JSON.createObjectNode().put("include_usage", true)).toString();
            results.add(CompletableFuture.supplyAsync(() -> stream(tandem, body, started)));
        }
        assertThat(started.await(60, TimeUnit.SECONDS)).as("every stream produced tokens").isTrue();

        servers.getFirst().kill();

        for (CompletableFuture<int[]> f : results) {
            int[] r = f.get(120, TimeUnit.SECONDS);
            assertThat(r[0]).as("HTTP status").isEqualTo(200);
            assertThat(r[1]).as("completion tokens of a migrated or untouched stream").isEqualTo(maxTokens);
        }
        await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> assertThat(metrics(tandem))
                .doesNotContain("worker=\"upstream-0\"").contains("worker=\"upstream-1\""));
        for (int i = 0; i < 4; i++) {
            assertThat(UpstreamChecks.complete(http, tandem, "After the crash " + i, 8).at("/usage/completion_tokens")
                    .asInt()).isEqualTo(8);
        }
    }

    private String metrics(String tandem) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(tandem + "/metrics")).timeout(Duration.ofSeconds(10))
                .build(), HttpResponse.BodyHandlers.ofString()).body();
    }

    /** Streams one completion; returns {status, completion tokens in the usage chunk}. */
    private int[] stream(String tandem, String body, CountDownLatch started) {
        try {
            HttpResponse<InputStream> r = http.send(HttpRequest.newBuilder(URI.create(tandem + "/v1/completions"))
                    .header("Content-Type", "application/json").timeout(Duration.ofSeconds(60))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofInputStream());
            int completion = -1;
            AtomicInteger chunks = new AtomicInteger();
            try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                    if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                        continue;
                    }
                    JsonNode chunk = JSON.readTree(line.substring(6));
                    if (chunks.incrementAndGet() == 5) {
                        started.countDown();
                    }
                    if (chunk.path("usage").isObject()) {
                        completion = chunk.at("/usage/completion_tokens").asInt();
                    }
                }
            }
            return new int[] {r.statusCode(), completion};
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
