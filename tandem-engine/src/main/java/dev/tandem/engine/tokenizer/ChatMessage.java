package dev.tandem.engine.tokenizer;

import java.util.List;
import java.util.Objects;

/**
 * One message of a conversation, as chat templates see it: {@code role} ("system", "user",
 * "assistant", "tool", ...) and its text. A null {@code content} is absent to the template
 * (Jinja's undefined), as OpenAI's assistant messages without text are.
 *
 * @param toolCalls  an assistant message's function calls (empty for other messages)
 * @param toolCallId a {@code tool} message's answer to which call, or null
 */
public record ChatMessage(String role, String content, List<ToolCall> toolCalls, String toolCallId) {
    public ChatMessage {
        if (role == null || role.isBlank()) {
            throw new IllegalArgumentException("a chat message needs a role");
        }
        toolCalls = List.copyOf(toolCalls);
    }

    public ChatMessage(String role, String content) {
        this(role, content, List.of(), null);
    }

    /**
     * One function call of an assistant message.
     *
     * @param id        the call's id ({@code call_...})
     * @param name      the function's name
     * @param arguments the arguments as JSON text (an object, as the model wrote it)
     */
    public record ToolCall(String id, String name, String arguments) {
        public ToolCall {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(arguments, "arguments");
        }
    }
}
