package dev.tandem.frontend.text;

import java.util.Objects;

/**
 * One turn of a conversation, after the frontend flattened OpenAI's content parts into text.
 *
 * @param role    {@code system}, {@code user} or {@code assistant}
 * @param content the text of the turn
 */
public record ChatMessage(String role, String content) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }
}
