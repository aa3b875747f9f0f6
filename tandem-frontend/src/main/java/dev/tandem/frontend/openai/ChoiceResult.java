package dev.tandem.frontend.openai;

import dev.tandem.core.GeneratedToken;
import dev.tandem.engine.tokenizer.ChatMessage;
import java.util.List;

/**
 * One finished choice of a non-streamed response.
 *
 * @param index        choice index (prompt index * n + sample index)
 * @param text         the generated text, stop string removed (function calls removed)
 * @param toolCalls    the function calls in the reply (chat with tools), or none
 * @param finishReason OpenAI's finish_reason ("stop" or "length")
 * @param tokens       the tokens with logprobs (empty unless logprobs were asked for)
 * @param textOffsets  per token, the offset in {@code text} (in chars) where its text begins
 */
public record ChoiceResult(int index, String text, List<ChatMessage.ToolCall> toolCalls, String finishReason,
                           List<GeneratedToken> tokens, List<Integer> textOffsets) {
    public ChoiceResult {
        toolCalls = List.copyOf(toolCalls);
        tokens = List.copyOf(tokens);
        textOffsets = List.copyOf(textOffsets);
    }
}
