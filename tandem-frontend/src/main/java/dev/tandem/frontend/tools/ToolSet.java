package dev.tandem.frontend.tools;

import java.util.List;
import java.util.Objects;

/**
 * A chat request's functions: {@code tools}, {@code tool_choice} and {@code parallel_tool_calls},
 * validated.
 *
 * @param tools    at least one, names distinct
 * @param choice   what the model may or must do
 * @param parallel whether a reply may hold several calls
 */
public record ToolSet(List<Tool> tools, ToolChoice choice, boolean parallel) {
    public ToolSet {
        tools = List.copyOf(tools);
        Objects.requireNonNull(choice, "choice");
        if (tools.isEmpty()) {
            throw new IllegalArgumentException("no tools");
        }
    }

    /** Whether decoding is constrained to a call ({@code required} or a named function). */
    public boolean forced() {
        return choice instanceof ToolChoice.Required || choice instanceof ToolChoice.Function;
    }

    /** Whether the reply is parsed for calls at all (not with {@code none}). */
    public boolean callsAllowed() {
        return !(choice instanceof ToolChoice.None);
    }

    /** The tools a forced call may use: the named one, or all. */
    public List<Tool> candidates() {
        if (choice instanceof ToolChoice.Function f) {
            return tools.stream().filter(t -> t.name().equals(f.name())).toList();
        }
        return tools;
    }

    /** The tools as one JSON array text, for the chat template. */
    public String toolsJson() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < tools.size(); i++) {
            sb.append(i > 0 ? "," : "").append(tools.get(i).json());
        }
        return sb.append(']').toString();
    }
}
