package dev.tandem.frontend.tools;

import dev.tandem.engine.tokenizer.ChatMessage;
import java.util.ArrayList;
import java.util.List;

/**
 * A conversation with functions, made fit for one chat template. A template that renders tools
 * itself (it mentions {@code tools}) gets them as Hugging Face passes them; one that does not
 * (stories260K's plain fallback, most older models) gets a system prompt describing them in the
 * format's syntax, merged into the first system message. Likewise an assistant's calls become
 * the format's text when the template does not mention {@code tool_calls}, and a {@code tool}
 * message becomes a user message wrapping the result in {@code <tool_response>} when the template
 * has no {@code tool} role.
 *
 * <p>Stateless.
 */
public final class ToolConversation {
    private ToolConversation() {
    }

    /**
     * @param messages  the conversation as rendered
     * @param toolsJson the tools for the template's {@code tools}, or null
     */
    public record Prepared(List<ChatMessage> messages, String toolsJson) {
    }

    /**
     * @param tools the request's functions, or null for none
     */
    public static Prepared prepare(List<ChatMessage> messages, ToolSet tools, String templateSource,
                                   ToolCallFormat format) {
        boolean nativeTools = templateSource.contains("tools");
        boolean nativeCalls = templateSource.contains("tool_calls");
        boolean nativeToolRole = templateSource.contains("'tool'") || templateSource.contains("\"tool\"");
        List<ChatMessage> out = new ArrayList<>(messages.size() + 1);
        for (ChatMessage m : messages) {
            if (!m.toolCalls().isEmpty() && !nativeCalls) {
                StringBuilder text = new StringBuilder(m.content() == null ? "" : m.content());
                for (ChatMessage.ToolCall c : m.toolCalls()) {
                    text.append(text.isEmpty() ? "" : "\n").append(format.callText(c.name(), c.arguments()));
                }
                out.add(new ChatMessage(m.role(), text.toString()));
            } else if (m.role().equals("tool") && !nativeToolRole) {
                out.add(new ChatMessage("user", "<tool_response>\n" + (m.content() == null ? "" : m.content())
                        + "\n</tool_response>"));
            } else {
                out.add(m);
            }
        }
        if (tools == null || !tools.callsAllowed()) {
            return new Prepared(out, null);
        }
        if (nativeTools) {
            return new Prepared(out, tools.toolsJson());
        }
        String prompt = format.systemPrompt(tools.toolsJson());
        if (!out.isEmpty() && out.getFirst().role().equals("system")) {
            ChatMessage first = out.getFirst();
            String merged = first.content() == null || first.content().isEmpty() ? prompt
                    : first.content() + "\n\n" + prompt;
            out.set(0, new ChatMessage("system", merged));
        } else {
            out.addFirst(new ChatMessage("system", prompt));
        }
        return new Prepared(out, null);
    }
}
