package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.runtime.upstream.FakeVllm;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * {@code tandem serve --upstream-prefill P --upstream D}: Tandem's frontend, router and
 * Dispatcher in front of two servers written to vLLM's NIXL disaggregation protocol
 * ({@link FakeVllm}, real sockets), compared with the same fake model served whole.
 */
@Timeout(120)
class UpstreamDisaggServeTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final List<AutoCloseable> open = new ArrayList<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
        http.close();
    }

    private static String modelFile() {
        return Path.of(System.getProperty("tandem.test.models"), "stories260K.gguf").toString();
    }

    private FakeVllm fake(String engineId) throws Exception {
        FakeVllm f = FakeVllm.start(engineId, 16);
        open.add(f);
        return f;
    }

    /** Starts {@code tandem serve} with these options; returns the running command. */
    private ServeCommand serve(String... options) {
        ServeCommand cmd = new ServeCommand();
        List<String> args = new ArrayList<>(List.of("--model", modelFile(), "--port", "0", "--upstream-kind", "vllm",
                "--disagg-min-tokens", "1"));
        args.addAll(List.of(options));
        new CommandLine(cmd).parseArgs(args.toArray(String[]::new));
        Thread main = Thread.ofPlatform().name("serve-upstream-disagg").start(() -> {
            try {
                cmd.call();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        open.add(() -> {
            cmd.stop.countDown();
            main.join(Duration.ofSeconds(30));
        });
        await().atMost(Duration.ofSeconds(60)).until(() -> cmd.running != null);
        return cmd;
    }

    private JsonNode complete(ServeCommand serve, String prompt) throws Exception {
        String body = JSON.createObjectNode().put("prompt", prompt).put("max_tokens", 8).put("temperature", 0)
                .toString();
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(serve.running.url() + "/v1/completions"))
                .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    private static String text(JsonNode answer) {
        return answer.at("/choices/0/text").asText();
    }

    @Test
    void disaggregated_textIsTheWholeServersAnswer_andTheDecodeServerReadTheBlocksOfItsPeer() throws Exception {
        FakeVllm prefill = fake("engine-p");
        FakeVllm decode = fake("engine-d").peer(prefill);
        FakeVllm whole = fake("engine-a");
        ServeCommand disagg = serve("--upstream-prefill", prefill.url(), "--upstream", decode.url());
        ServeCommand aggregated = serve("--upstream", whole.url());
        String prompt = "Once upon a time there was a little girl who liked to play";

        JsonNode split = complete(disagg, prompt);
        JsonNode one = complete(aggregated, prompt);

        assertThat(text(split)).isNotEmpty().isEqualTo(text(one));
        int promptTokens = split.at("/usage/prompt_tokens").asInt();
        assertThat(split.at("/usage/prompt_tokens_details/transferred_tokens").asInt())
                .as("the decode server's cached_tokens: the prompt read from its peer").isEqualTo(promptTokens);
        assertThat(split.at("/usage/completion_tokens").asInt()).isEqualTo(8);
        assertThat(decode.remoteReads.get()).isEqualTo(1);
        JsonNode params = decode.bodies.getFirst().path("kv_transfer_params");
        assertThat(params.path("remote_engine_id").asText()).isEqualTo("engine-p");
        assertThat(params.path("remote_request_id").asText()).isEqualTo(prefill.requestIds.getFirst());
        assertThat(decode.requestIds).containsExactly(prefill.requestIds.getFirst());
        assertThat(decode.bodies.getFirst().path("prompt").size()).as("prompt + the prefill's token")
                .isEqualTo(promptTokens + 1);
        assertThat(prefill.bodies.getFirst().path("prompt").size()).isEqualTo(promptTokens);
        assertThat(disagg.running.disaggMetrics().fallbacks()).isEmpty();
        assertThat(prefill.pinnedRequests()).isZero();
    }

    @Test
    void prefillServerWithoutTheConnector_orDead_theDecodeServerPrefillsAndTheTextIsTheSame() throws Exception {
        FakeVllm prefill = fake("engine-p");
        FakeVllm decode = fake("engine-d").peer(prefill);
        FakeVllm whole = fake("engine-a");
        ServeCommand disagg = serve("--upstream-prefill", prefill.url(), "--upstream", decode.url());
        ServeCommand aggregated = serve("--upstream", whole.url());
        prefill.answerParams = false;

        String prompt = "The little dog ran to the park and saw a big red ball";
        JsonNode noParams = complete(disagg, prompt);

        assertThat(text(noParams)).isEqualTo(text(complete(aggregated, prompt)));
        assertThat(decode.bodies.getFirst().has("kv_transfer_params")).isFalse();
        assertThat(decode.remoteReads.get()).isZero();
        assertThat(noParams.at("/usage/prompt_tokens_details/transferred_tokens").asInt()).isZero();
        assertThat(disagg.running.disaggMetrics().fallbacks("prefill_failed")).isEqualTo(1);

        prefill.close();
        String other = "A bird sang in the tall tree by the river every morning";
        JsonNode dead = complete(disagg, other);

        assertThat(text(dead)).isEqualTo(text(complete(aggregated, other)));
        assertThat(decode.bodies.getLast().has("kv_transfer_params")).isFalse();
        assertThat(decode.remoteReads.get()).isZero();
    }
}
