package dev.tandem.frontend.openai;

import dev.tandem.core.OutputConstraint;
import dev.tandem.core.SamplingParams;
import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.frontend.tools.ToolSet;
import java.util.List;
import java.util.Objects;

/**
 * A validated {@code /v1/chat/completions} or {@code /v1/completions} request.
 *
 * @param endpoint     which API
 * @param model        the requested model, or null for the one served
 * @param messages     the conversation (chat; empty for completions)
 * @param prompts      the prompts (completions, at least one; empty for chat)
 * @param maxTokens    most tokens per choice, or null for the endpoint's default
 * @param sampling     sampling parameters (validated ranges)
 * @param stop         stop strings, none empty
 * @param stopTokenIds extra token ids that end a choice
 * @param n            choices per prompt, >= 1
 * @param topLogprobs  -1: no logprobs; 0: the chosen token's; k > 0: also k alternatives
 * @param stream       answer as server-sent events
 * @param includeUsage add a usage chunk to the stream
 * @param ignoreEos    keep generating past end-of-generation tokens
 * @param user         the client's end-user id, or null
 * @param constraint   what the output must be ({@code response_format}), or null
 * @param tools        the functions the model may call (chat), or null
 */
public record CompletionSpec(Endpoint endpoint, String model, List<ChatMessage> messages, List<Prompt> prompts,
                             Integer maxTokens, SamplingParams sampling, List<String> stop,
                             List<Integer> stopTokenIds, int n, int topLogprobs, boolean stream,
                             boolean includeUsage, boolean ignoreEos, String user, OutputConstraint constraint,
                             ToolSet tools) {

    public CompletionSpec {
        Objects.requireNonNull(endpoint, "endpoint");
        messages = List.copyOf(messages);
        prompts = List.copyOf(prompts);
        stop = List.copyOf(stop);
        stopTokenIds = List.copyOf(stopTokenIds);
        Objects.requireNonNull(sampling, "sampling");
        if (n < 1) {
            throw new IllegalArgumentException("n=" + n);
        }
        if (endpoint == Endpoint.CHAT ? messages.isEmpty() : prompts.isEmpty()) {
            throw new IllegalArgumentException("no input for " + endpoint);
        }
    }

    /** Whether logprobs were asked for. */
    public boolean logprobs() {
        return topLogprobs >= 0;
    }

    /** Number of prompts (one for chat). */
    public int promptCount() {
        return endpoint == Endpoint.CHAT ? 1 : prompts.size();
    }

    /** Choices in the response: {@code promptCount() * n}. */
    public int choiceCount() {
        return promptCount() * n;
    }

    /** The stop token ids as an array. */
    public int[] stopTokenIdArray() {
        int[] ids = new int[stopTokenIds.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = stopTokenIds.get(i);
        }
        return ids;
    }
}
