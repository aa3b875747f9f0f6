package dev.tandem.engine.tokenizer;

/**
 * One message of a conversation, as chat templates see it: {@code role} ("system", "user",
 * "assistant", "tool", ...) and its text. A null {@code content} is absent to the template
 * (Jinja's undefined), as OpenAI's assistant messages without text are.
 */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        if (role == null || role.isBlank()) {
            throw new IllegalArgumentException("a chat message needs a role");
        }
    }
}
