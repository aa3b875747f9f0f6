package dev.tandem.systemtests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;

/**
 * What the tests of llama-servers behind a Tandem frontend check, whichever way the frontend was
 * started ({@code tandem serve --upstream}, {@code tandem up}): greedy text equal to the server's
 * own, and conversations that return to the server holding them.
 */
final class UpstreamChecks {
    static final ObjectMapper JSON = new ObjectMapper();
    /** New tokens a conversation turn may add beyond what was cached: the reply (max tokens) and the next words. */
    private static final int NEW_TOKENS = 24;
    /**
     * Three, because with an even number sent in turn round-robin would also send each
     * conversation to the same server every turn, and the check could not fail.
     */
    private static final String[] OPENINGS = {
        "Once upon a time there was a girl named Lily who liked to paint pictures of",
        "Tom had a big red ball. Every morning he took the ball to the garden and",
        "The sun was shining and the birds were singing in the tall green trees near"};

    private UpstreamChecks() {
    }

    /** POSTs a JSON body; the answer must be 200. */
    static JsonNode post(HttpClient http, String url, String body) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type",
                "application/json").timeout(Duration.ofSeconds(60)).POST(HttpRequest.BodyPublishers.ofString(body))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }

    /** A greedy completion of stories260K through the frontend at {@code frontend}. */
    static JsonNode complete(HttpClient http, String frontend, String prompt, int maxTokens) throws Exception {
        return post(http, frontend + "/v1/completions", JSON.createObjectNode().put("model", "stories260K")
                .put("prompt", prompt).put("max_tokens", maxTokens).put("temperature", 0).toString());
    }

    /** Each prompt's greedy text through the frontend equals what {@code server} answers itself. */
    static void assertGreedyTextIsTheServersOwn(HttpClient http, String frontend, LlamaServer server,
                                                List<String> prompts, int maxTokens) throws Exception {
        for (String prompt : prompts) {
            String own = post(http, server.url + "/completion", JSON.createObjectNode().put("prompt", prompt)
                    .put("n_predict", maxTokens).put("temperature", 0).toString()).get("content").asText();

            JsonNode through = complete(http, frontend, prompt, maxTokens);

            assertThat(through.at("/choices/0/text").asText()).as(prompt).isEqualTo(own).isNotEmpty();
            assertThat(through.at("/usage/completion_tokens").asInt()).isEqualTo(maxTokens);
        }
    }

    /**
     * Three short conversations sent in turn through a KV-routed frontend over two servers: every
     * later turn must find all but its new words cached, so it went back to the server that holds
     * its conversation.
     */
    static void assertConversationsReturnToTheirServer(HttpClient http, String frontend) throws Exception {
        String[] history = OPENINGS.clone();
        int laterTurns = 0;
        for (int turn = 0; turn < 3; turn++) {
            for (int c = 0; c < history.length; c++) {
                JsonNode r = complete(http, frontend, history[c], NEW_TOKENS);
                int prompt = r.at("/usage/prompt_tokens").asInt();
                int cached = r.at("/usage/prompt_tokens_details/cached_tokens").asInt();
                if (turn > 0) {
                    // everything but the new words was sent to the same server last turn
                    assertThat(cached).as("conversation %d turn %d: %d of %d prompt tokens cached", c, turn,
                            cached, prompt).isGreaterThanOrEqualTo(prompt - NEW_TOKENS);
                    laterTurns++;
                }
                history[c] = history[c] + r.at("/choices/0/text").asText() + " Then";
            }
        }
        assertThat(laterTurns).isEqualTo(6);
    }
}
