package dev.tandem.frontend.openai;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.frontend.tools.Tool;
import dev.tandem.frontend.tools.ToolChoice;
import dev.tandem.frontend.tools.ToolSet;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * OpenAI's function calling fields, validated: {@code tools} ({@code [{"type": "function",
 * "function": {"name", "description", "parameters", "strict"}}]}), {@code tool_choice}
 * ({@code "auto"}, {@code "none"}, {@code "required"} or {@code {"type": "function", "function":
 * {"name"}}}), {@code parallel_tool_calls}, and an assistant message's {@code tool_calls}. Every
 * fault is a 400 naming the field: a tool without a name, parameters that are not an object
 * schema or use a keyword outside the supported subset, two tools with one name, a
 * {@code tool_choice} naming an unknown function.
 *
 * <p>Stateless.
 */
final class ToolRequests {
    /** An empty parameter list: what a function without {@code parameters} takes. */
    static final String NO_PARAMETERS = "{\"type\":\"object\",\"properties\":{}}";
    private static final String NAME_PATTERN = "[A-Za-z0-9_-]{1,64}";

    private ToolRequests() {
    }

    /** The request's functions, or null when it declares none. */
    static ToolSet parse(JsonNode tools, JsonNode choice, JsonNode parallel) {
        if (parallel != null && !parallel.isBoolean()) {
            throw ApiException.invalid("parallel_tool_calls", "'parallel_tool_calls' must be a boolean");
        }
        if (tools == null || (tools.isArray() && tools.isEmpty())) {
            if (choice != null && !(choice.isTextual() && (choice.textValue().equals("none")
                    || choice.textValue().equals("auto")))) {
                throw ApiException.invalid("tool_choice", "'tool_choice' is only allowed when 'tools' are specified");
            }
            return null;
        }
        if (!tools.isArray()) {
            throw ApiException.invalid("tools", "'tools' must be an array of tool objects");
        }
        List<Tool> list = new ArrayList<>(tools.size());
        Set<String> names = new HashSet<>();
        for (int i = 0; i < tools.size(); i++) {
            Tool t = tool(tools.get(i), "tools[" + i + "]");
            if (!names.add(t.name())) {
                throw ApiException.invalid("tools[" + i + "].function.name", "two tools are named '" + t.name() + "'");
            }
            list.add(t);
        }
        return new ToolSet(list, choice(choice, names), parallel == null || parallel.booleanValue());
    }

    private static Tool tool(JsonNode t, String where) {
        if (!t.isObject()) {
            throw ApiException.invalid(where, "'" + where + "' must be an object");
        }
        JsonNode type = t.get("type");
        if (type == null || !type.isTextual() || !type.textValue().equals("function")) {
            throw ApiException.invalid(where + ".type", "'" + where + ".type' must be 'function'");
        }
        JsonNode f = t.get("function");
        if (f == null || !f.isObject()) {
            throw ApiException.invalid(where + ".function", "'" + where + ".function' is required and must be an object");
        }
        JsonNode name = f.get("name");
        if (name == null || name.isNull()) {
            throw ApiException.invalid(where + ".function.name", "'" + where + ".function.name' is required");
        }
        if (!name.isTextual() || !name.textValue().matches(NAME_PATTERN)) {
            throw ApiException.invalid(where + ".function.name", "'" + where + ".function.name' must be 1 to 64 "
                    + "letters, digits, '_' or '-', got " + name);
        }
        JsonNode description = f.get("description");
        if (description != null && !description.isNull() && !description.isTextual()) {
            throw ApiException.invalid(where + ".function.description", "'" + where
                    + ".function.description' must be a string");
        }
        JsonNode strict = f.get("strict");
        if (strict != null && !strict.isNull() && !strict.isBoolean()) {
            throw ApiException.invalid(where + ".function.strict", "'" + where + ".function.strict' must be a boolean");
        }
        String param = where + ".function.parameters";
        JsonNode parameters = f.get("parameters");
        String schema;
        if (parameters == null || parameters.isNull()) {
            schema = NO_PARAMETERS;
        } else {
            if (!parameters.isObject()) {
                throw ApiException.invalid(param, "'" + param + "' must be a JSON Schema object, got " + parameters);
            }
            JsonNode ptype = parameters.get("type");
            if (ptype != null && !(ptype.isTextual() && ptype.textValue().equals("object"))) {
                throw ApiException.invalid(param, "'" + param + "' must be a schema of type 'object' (the "
                        + "arguments are a JSON object), got type " + ptype);
            }
            schema = ResponseFormats.checked(parameters, param);
        }
        return new Tool(name.textValue(), schema, t.toString());
    }

    private static ToolChoice choice(JsonNode c, Set<String> names) {
        if (c == null) {
            return new ToolChoice.Auto();
        }
        if (c.isTextual()) {
            return switch (c.textValue()) {
                case "auto" -> new ToolChoice.Auto();
                case "none" -> new ToolChoice.None();
                case "required" -> new ToolChoice.Required();
                default -> throw ApiException.invalid("tool_choice", "'tool_choice' must be 'auto', 'none', "
                        + "'required' or a function object, got '" + c.textValue() + "'");
            };
        }
        JsonNode type = c.isObject() ? c.get("type") : null;
        JsonNode f = c.isObject() ? c.get("function") : null;
        JsonNode name = f != null && f.isObject() ? f.get("name") : null;
        if (type == null || !"function".equals(type.asText()) || name == null || !name.isTextual()) {
            throw ApiException.invalid("tool_choice", "'tool_choice' as an object must be {\"type\": \"function\", "
                    + "\"function\": {\"name\": ...}}");
        }
        if (!names.contains(name.textValue())) {
            throw ApiException.invalid("tool_choice.function.name", "'tool_choice' names the function '"
                    + name.textValue() + "', which is not in 'tools'");
        }
        return new ToolChoice.Function(name.textValue());
    }

    /** An assistant message's {@code tool_calls}, or none. */
    static List<ChatMessage.ToolCall> messageCalls(JsonNode calls, String where) {
        if (calls == null) {
            return List.of();
        }
        if (!calls.isArray()) {
            throw ApiException.invalid(where, "'" + where + "' must be an array");
        }
        List<ChatMessage.ToolCall> out = new ArrayList<>(calls.size());
        for (int i = 0; i < calls.size(); i++) {
            JsonNode c = calls.get(i);
            String at = where + "[" + i + "]";
            JsonNode f = c.isObject() ? c.get("function") : null;
            if (f == null || !f.isObject()) {
                throw ApiException.invalid(at + ".function", "'" + at + ".function' is required and must be an object");
            }
            JsonNode name = f.get("name");
            JsonNode arguments = f.get("arguments");
            if (name == null || !name.isTextual()) {
                throw ApiException.invalid(at + ".function.name", "'" + at + ".function.name' must be a string");
            }
            if (arguments == null || !arguments.isTextual()) {
                throw ApiException.invalid(at + ".function.arguments", "'" + at
                        + ".function.arguments' must be a string (JSON text)");
            }
            JsonNode id = c.get("id");
            out.add(new ChatMessage.ToolCall(id != null && id.isTextual() ? id.textValue() : null, name.textValue(),
                    arguments.textValue()));
        }
        return out;
    }
}
