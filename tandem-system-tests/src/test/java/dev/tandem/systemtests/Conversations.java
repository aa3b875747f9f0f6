package dev.tandem.systemtests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * Three short conversations sent in turn through a KV-routed frontend over two servers: every
 * later turn must find all but its new words cached, so it went back to the server that holds
 * its conversation. Three, because with an even number round-robin would also send each
 * conversation to the same server every turn, and the check could not fail.
 */
final class Conversations {
    /** New tokens a turn may add beyond what was cached: the reply (max tokens) and the next words. */
    private static final int NEW_TOKENS = 24;
    private static final String[] OPENINGS = {
        "Once upon a time there was a girl named Lily who liked to paint pictures of",
        "Tom had a big red ball. Every morning he took the ball to the garden and",
        "The sun was shining and the birds were singing in the tall green trees near"};

    /** One completion through the frontend under test: its OpenAI answer. */
    interface Completion {
        JsonNode complete(String prompt, int maxTokens) throws Exception;
    }

    private Conversations() {
    }

    /** Three turns of each conversation; turns 2 and 3 must be served from their server's cache. */
    static void assertEachReturnsToItsServer(Completion frontend) throws Exception {
        String[] history = OPENINGS.clone();
        int laterTurns = 0;
        for (int turn = 0; turn < 3; turn++) {
            for (int c = 0; c < history.length; c++) {
                JsonNode r = frontend.complete(history[c], NEW_TOKENS);
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
