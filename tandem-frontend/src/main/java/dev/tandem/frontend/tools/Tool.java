package dev.tandem.frontend.tools;

import java.util.Objects;

/**
 * One function the model may call, as the request declared it.
 *
 * @param name       the function's name
 * @param parameters its parameters' JSON Schema as JSON text (checked against the supported
 *                   subset)
 * @param json       the whole tool object as the client sent it ({@code {"type": "function",
 *                   "function": {...}}}), for the chat template
 */
public record Tool(String name, String parameters, String json) {
    public Tool {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(parameters, "parameters");
        Objects.requireNonNull(json, "json");
    }
}
