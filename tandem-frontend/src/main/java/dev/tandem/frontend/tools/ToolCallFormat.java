package dev.tandem.frontend.tools;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.tandem.core.OutputConstraint;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * How a model family writes function calls, recognised from its chat template's text:
 * <ul>
 *   <li>{@link #MISTRAL}: {@code [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]} (the
 *       template mentions {@code [TOOL_CALLS]});</li>
 *   <li>{@link #HERMES} (Hermes 2 Pro, Qwen 2.5, and the default): each call as
 *       {@code <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>} (the template mentions
 *       {@code <tool_call>}, or no format at all);</li>
 *   <li>{@link #LLAMA3} (Llama 3.1 to 3.3 JSON tool calling): {@code {"name": ..., "parameters":
 *       {...}}} as the whole reply, possibly after {@code <|python_tag|>}, several separated by
 *       {@code ;} (the template mentions {@code <|python_tag|>}).</li>
 * </ul>
 * Either key, {@code arguments} or {@code parameters}, is read in every format.
 *
 * <p>A forced call ({@code tool_choice} {@code required} or a named function) is decoded under an
 * {@link OutputConstraint}: the family's opening text as the prefix, a call object whose
 * {@code name} is one of the candidates' names (a {@code const}) and whose arguments follow that
 * function's parameter schema, then the closing text as the suffix. A marker that is a control
 * token ({@code [TOOL_CALLS]}, {@code <|python_tag|>}) is decoded as its text, which the parser
 * reads the same way.
 */
public enum ToolCallFormat {
    HERMES(List.of("<tool_call>"), "arguments", "<tool_call>\n", "\n</tool_call>"),
    LLAMA3(List.of("<|python_tag|>"), "parameters", "", ""),
    MISTRAL(List.of("[TOOL_CALLS]"), "arguments", "[TOOL_CALLS][", "]");

    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<String> startMarkers;
    private final String argumentsKey;
    private final String forcedPrefix;
    private final String forcedSuffix;

    ToolCallFormat(List<String> startMarkers, String argumentsKey, String forcedPrefix, String forcedSuffix) {
        this.startMarkers = startMarkers;
        this.argumentsKey = argumentsKey;
        this.forcedPrefix = forcedPrefix;
        this.forcedSuffix = forcedSuffix;
    }

    /** The format a chat template's text names; {@link #HERMES} when it names none. */
    public static ToolCallFormat detect(String templateSource) {
        if (templateSource.contains("[TOOL_CALLS]")) {
            return MISTRAL;
        }
        if (templateSource.contains("<tool_call>")) {
            return HERMES;
        }
        if (templateSource.contains("<|python_tag|>")) {
            return LLAMA3;
        }
        return HERMES;
    }

    /** Texts that open the calls of a reply. */
    List<String> startMarkers() {
        return startMarkers;
    }

    /** True if {@code text} (a control token's name) opens calls. */
    public boolean isMarker(String text) {
        return startMarkers.contains(text);
    }

    /** Whether a reply that opens with a JSON object may be a call without a marker. */
    boolean bareJson() {
        return this == LLAMA3;
    }

    /** The key the family writes a call's arguments under. */
    public String argumentsKey() {
        return argumentsKey;
    }

    /**
     * The constraint for one call of one of {@code candidates}: the family's opening, a call
     * object, the closing. Each function's parameter schema moves into {@code $defs} (its own
     * {@code $defs} renamed with a per-function prefix and its {@code $ref}s rewritten), so
     * functions' definitions cannot collide.
     */
    public OutputConstraint forcedCall(List<Tool> candidates) {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode defs = JSON.createObjectNode();
        ArrayNode calls = JSON.createArrayNode();
        for (int i = 0; i < candidates.size(); i++) {
            Tool t = candidates.get(i);
            String prefix = "t" + i + "_";
            defs.set("t" + i, hoisted(read(t.parameters()), prefix, defs));
            ObjectNode call = JSON.createObjectNode();
            call.put("type", "object");
            ObjectNode props = call.putObject("properties");
            props.putObject("name").put("const", t.name());
            props.putObject(argumentsKey).put("$ref", "#/$defs/t" + i);
            call.putArray("required").add("name").add(argumentsKey);
            calls.add(call);
        }
        if (calls.size() == 1) {
            root.setAll((ObjectNode) calls.get(0));
        } else {
            root.set("anyOf", calls);
        }
        root.set("$defs", defs);
        return new OutputConstraint(root.toString(), forcedPrefix, forcedSuffix, 0);
    }

    /**
     * {@code schema} with its {@code $defs} / {@code definitions} moved to {@code defs} under
     * {@code prefix + name} and every {@code $ref} rewritten to match ({@code #} becomes the
     * function's own entry).
     */
    private static JsonNode hoisted(JsonNode schema, String prefix, ObjectNode defs) {
        if (!schema.isObject()) {
            return schema;
        }
        ObjectNode copy = JSON.createObjectNode();
        String self = prefix.substring(0, prefix.length() - 1);
        for (Iterator<Map.Entry<String, JsonNode>> it = schema.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if ((e.getKey().equals("$defs") || e.getKey().equals("definitions")) && e.getValue().isObject()) {
                for (Iterator<Map.Entry<String, JsonNode>> d = e.getValue().fields(); d.hasNext(); ) {
                    Map.Entry<String, JsonNode> def = d.next();
                    defs.set(prefix + def.getKey(), rewritten(def.getValue(), prefix, self));
                }
            } else {
                copy.set(e.getKey(), rewritten(e.getValue(), prefix, self));
            }
        }
        return copy;
    }

    private static JsonNode rewritten(JsonNode node, String prefix, String self) {
        if (node.isArray()) {
            ArrayNode out = JSON.createArrayNode();
            node.forEach(n -> out.add(rewritten(n, prefix, self)));
            return out;
        }
        if (!node.isObject()) {
            return node;
        }
        ObjectNode out = JSON.createObjectNode();
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            if (e.getKey().equals("$ref") && v.isTextual()) {
                out.set("$ref", new TextNode(ref(v.textValue(), prefix, self)));
            } else {
                out.set(e.getKey(), rewritten(v, prefix, self));
            }
        }
        return out;
    }

    private static String ref(String ref, String prefix, String self) {
        if (ref.equals("#")) {
            return "#/$defs/" + self;
        }
        for (String base : List.of("#/$defs/", "#/definitions/")) {
            if (ref.startsWith(base)) {
                return "#/$defs/" + prefix + ref.substring(base.length());
            }
        }
        return ref; // refused by the schema compiler, which names it
    }

    private static JsonNode read(String json) {
        try {
            return JSON.readTree(json);
        } catch (JacksonException e) {
            throw new IllegalArgumentException("parameters are not JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** One call in this family's syntax, for a template that does not write calls itself. */
    public String callText(String name, String arguments) {
        String object = "{\"name\": " + new TextNode(name) + ", \"" + argumentsKey + "\": " + arguments + "}";
        return switch (this) {
            case HERMES -> "<tool_call>\n" + object + "\n</tool_call>";
            case LLAMA3 -> object;
            case MISTRAL -> "[TOOL_CALLS][" + object + "]";
        };
    }

    /** The system prompt that describes the tools to a model whose template does not. */
    public String systemPrompt(String toolsJson) {
        StringBuilder sb = new StringBuilder("# Tools\n\nYou can call functions to answer. The functions, one JSON "
                + "object each, are:\n<tools>\n");
        for (JsonNode t : read(toolsJson)) {
            sb.append(t).append('\n');
        }
        sb.append("</tools>\n\nTo call one, reply with its name and arguments as JSON:\n")
                .append(callText("<function-name>", "<arguments-json-object>").replace("\"<function-name>\"",
                        "<function-name>"));
        return sb.toString();
    }
}
