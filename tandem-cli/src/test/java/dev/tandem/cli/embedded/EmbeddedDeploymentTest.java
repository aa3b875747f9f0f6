package dev.tandem.cli.embedded;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.engine.EngineConfig;
import dev.tandem.frontend.Conversations;
import dev.tandem.frontend.FrontendConfig;
import dev.tandem.router.Router;
import dev.tandem.router.RouterConfig;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The one-JVM deployment: real workers on stories260K that register in the embedded registry and
 * publish KV events and load on the embedded bus, and the router that those feed.
 */
@Timeout(120)
class EmbeddedDeploymentTest {
    private static final String PROMPT = "Tom and Sue went to the park. They played with a ball and a red kite. "
            + "Then it started to rain, so they ran home to eat cake with mom and dad.";

    private static EmbeddedDeployment start(RouterConfig.PolicyKind policy) {
        return EmbeddedDeployment.start(new EmbeddedDeployment.Spec(modelPath(), null, 2, policy, false, 1,
                EngineConfig.DEFAULT.withKvBlocks(512).withMaxSequences(16), 1, FrontendConfig.defaults().withPort(0),
                true));
    }

    @Test
    void kvRouter_repeatedPrompt_goesWhereItsPrefixIsCached_predictedEqualsActual() throws Exception {
        try (EmbeddedDeployment d = start(RouterConfig.PolicyKind.KV); HttpClient client = HttpClient.newHttpClient()) {
            assertThat(d.frontend().workers().all()).hasSize(2);
            String body = "{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": 4, \"temperature\": 0}";

            JsonNode first = post(client, d, body);
            int served = servingWorker(d);
            Router router = d.router().router();
            // the worker's KV events reach the router through the event bus
            await().atMost(Duration.ofSeconds(10)).until(() -> router.workers().stream()
                    .anyMatch(w -> w.workerId().equals("worker-" + served) && w.indexedBlocks() > 0));
            long before = d.engine(served).load().promptTokens();
            JsonNode again = post(client, d, body);

            int promptTokens = first.get("usage").get("prompt_tokens").asInt();
            int cached = again.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt();
            assertThat(d.engine(served).load().promptTokens()).isEqualTo(before + promptTokens);
            assertThat(cached).isPositive();
            String metrics = client.send(HttpRequest.newBuilder(URI.create(d.url() + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            // the router's prediction for the second request matches what the worker reported
            assertThat(metrics).contains("tandem_frontend_predicted_cached_tokens_total " + cached + ".0")
                    .contains("tandem_frontend_actual_cached_tokens_total " + cached + ".0");
        }
    }

    @Test
    void roundRobinRouter_spreadsRequestsOverBothWorkers() throws Exception {
        try (EmbeddedDeployment d = start(RouterConfig.PolicyKind.ROUND_ROBIN);
             HttpClient client = HttpClient.newHttpClient()) {
            for (int i = 0; i < 4; i++) {
                post(client, d, "{\"prompt\": \"" + PROMPT + "\", \"max_tokens\": 2}");
            }

            assertThat(d.engine(0).load().promptTokens()).isEqualTo(d.engine(1).load().promptTokens()).isPositive();
            assertThat(d.routerName()).isEqualTo("round-robin");
        }
    }

    /**
     * A follow-up turn finds the previous turn's prompt and reply in the cache: every full block
     * of them, token for token, although sampled replies re-tokenize differently as text.
     */
    @Test
    void conversation_followUpTurn_cachedTokensCoverThePreviousPromptAndReply() throws Exception {
        try (EmbeddedDeployment d = EmbeddedDeployment.start(new EmbeddedDeployment.Spec(modelPath(), null, 1,
                RouterConfig.PolicyKind.KV, false, 1, EngineConfig.DEFAULT.withKvBlocks(512).withMaxSequences(16), 1,
                FrontendConfig.defaults().withPort(0), true)); HttpClient client = HttpClient.newHttpClient()) {
            Conversations.check(3, 3, true, body -> {
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(d.url() + "/v1/chat/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                return new ObjectMapper().readTree(r.body());
            });
        }
    }

    /** The worker whose engine has seen prompt tokens (exactly one after one request). */
    private static int servingWorker(EmbeddedDeployment d) {
        long w0 = d.engine(0).load().promptTokens();
        long w1 = d.engine(1).load().promptTokens();
        assertThat(w0 == 0 ^ w1 == 0).as("exactly one worker served: %d / %d", w0, w1).isTrue();
        return w0 > 0 ? 0 : 1;
    }

    private static JsonNode post(HttpClient client, EmbeddedDeployment d, String body) throws Exception {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(d.url() + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return new ObjectMapper().readTree(r.body());
    }

    private static Path modelPath() {
        for (String dir : new String[] {System.getProperty("tandem.test.models"), System.getenv("TANDEM_MODEL_PATH")}) {
            if (dir != null && Files.isDirectory(Path.of(dir.split(java.io.File.pathSeparator)[0]))) {
                return Path.of(dir.split(java.io.File.pathSeparator)[0], "stories260K.gguf");
            }
        }
        return Path.of("/work/shared/models/stories260K.gguf");
    }
}
