package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Multi-turn chats with sampled replies, each turn sending the whole history back, and the check
 * that turn N+1's {@code cached_tokens} covers turn N's prompt and reply: to the token where the
 * worker that held turn N computes turn N+1 (it takes the partly filled last block over), every
 * full block where turn N+1's prompt is prefilled elsewhere and imported (shared with the CLI's
 * tests through this module's test jar).
 */
public final class Conversations {
    public static final int BLOCK = 16;
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Sends one chat request body; returns the answer's JSON (status 200 asserted by the caller). */
    public interface Chat {
        JsonNode send(String body) throws Exception;
    }

    private Conversations() {
    }

    /**
     * Runs {@code conversations} chats of {@code turns} turns (24 sampled tokens a reply) and
     * asserts the cache covers each follow-up turn's previous prompt and reply except the last
     * generated token (never computed) and the follow-up's last prompt token (always computed):
     * every such token if {@code tokenExact}, else all full blocks of them.
     */
    public static void check(int conversations, int turns, boolean tokenExact, Chat chat) throws Exception {
        for (int c = 0; c < conversations; c++) {
            ArrayNode messages = JSON.createArrayNode();
            messages.addObject().put("role", "user").put("content", "Tell me a story about a dog called number " + c
                    + ", a red ball and a big tree in the park.");
            int previousHeld = -1;
            for (int t = 0; t < turns; t++) {
                ObjectNode body = JSON.createObjectNode();
                body.set("messages", messages);
                body.put("max_tokens", 24).put("temperature", 1.0).put("seed", 100 * c + t).put("ignore_eos", true);
                JsonNode answer = chat.send(body.toString());
                int prompt = answer.at("/usage/prompt_tokens").asInt();
                int completion = answer.at("/usage/completion_tokens").asInt();
                int cached = answer.at("/usage/prompt_tokens_details/cached_tokens").asInt();
                if (previousHeld >= 0) {
                    int expected = tokenExact ? Math.min(previousHeld, prompt - 1)
                            : Math.min(previousHeld / BLOCK, (prompt - 1) / BLOCK) * BLOCK;
                    assertThat(cached).as("cached tokens of conversation %d turn %d (prompt %d, previous prompt and"
                            + " reply %d): %s", c, t, prompt, previousHeld + 1, messages).isEqualTo(expected);
                }
                previousHeld = prompt + completion - 1;
                messages.addObject().put("role", "assistant").put("content",
                        answer.at("/choices/0/message/content").asText());
                messages.addObject().put("role", "user").put("content", "And then what happened to the dog?");
            }
        }
    }
}
