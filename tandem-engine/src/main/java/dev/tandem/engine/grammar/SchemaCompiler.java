package dev.tandem.engine.grammar;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.RequestException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Compiles a JSON Schema document into {@link SchemaNode}s.
 *
 * <h2>Supported subset</h2>
 * {@code type} (one or a list of object, array, string, number, integer, boolean, null),
 * {@code properties}, {@code required}, {@code additionalProperties} (with no {@code properties}:
 * the value schema of every key; with {@code properties}, only the declared keys are generated),
 * {@code items}, {@code minItems}, {@code maxItems}, {@code enum}, {@code const}, {@code anyOf},
 * {@code $ref} to {@code #}, {@code #/$defs/...} or {@code #/definitions/...}, and {@code $defs} /
 * {@code definitions}. Annotations are ignored: {@code title}, {@code description},
 * {@code $schema}, {@code $id}, {@code $comment}, {@code default}, {@code examples}. Any other
 * keyword ({@code pattern}, {@code format}, {@code minimum}, {@code oneOf}, {@code allOf}, ...)
 * is refused with a {@link RequestException} (INVALID) naming it and where it is, as is an object
 * with more than {@value #MAX_PROPERTIES} properties.
 *
 * <p>Stateless apart from one compilation's scratch; one instance per call.
 */
public final class SchemaCompiler {
    /** Properties per object (the automaton keeps the seen set in a {@code long}). */
    static final int MAX_PROPERTIES = 64;
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "$schema", "$id", "$comment",
            "default", "examples");
    private static final Set<String> SUPPORTED = Set.of("type", "properties", "required", "additionalProperties",
            "items", "minItems", "maxItems", "enum", "const", "anyOf", "$ref", "$defs", "definitions");

    private final JsonNode root;
    private final String param;
    private final Map<String, SchemaNode> refs = new HashMap<>();

    private SchemaCompiler(JsonNode root, String param) {
        this.root = root;
        this.param = param;
    }

    /**
     * The root node of {@code schemaJson}.
     *
     * @param param the request field to name in errors (e.g. {@code response_format.json_schema.schema})
     * @throws RequestException INVALID: not JSON, or a keyword outside the subset
     */
    static SchemaNode compile(String schemaJson, String param) {
        JsonNode root;
        try {
            root = MAPPER.readTree(schemaJson);
        } catch (JacksonException e) {
            throw new RequestException(RequestException.Kind.INVALID, "the schema is not valid JSON: "
                    + e.getOriginalMessage(), param, null);
        }
        if (root == null) {
            throw new RequestException(RequestException.Kind.INVALID, "the schema is empty", param, null);
        }
        SchemaCompiler c = new SchemaCompiler(root, param);
        SchemaNode node = c.node(root, "#");
        computeMinBytes(node, new IdentityHashMap<>());
        return node;
    }

    /**
     * Checks that {@code schemaJson} is within the supported subset, for a frontend that wants to
     * refuse a request before it is queued.
     *
     * @throws RequestException INVALID naming the unsupported keyword or the fault
     */
    public static void check(String schemaJson, String param) {
        compile(schemaJson, param);
    }

    private SchemaNode node(JsonNode s, String path) {
        if (s.isBoolean()) {
            if (!s.booleanValue()) {
                throw invalid("the schema false at " + path + " allows no value");
            }
            return SchemaNode.ANY;
        }
        if (!s.isObject()) {
            throw invalid("a schema must be an object or a boolean, at " + path);
        }
        for (Iterator<String> it = s.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!SUPPORTED.contains(k) && !ANNOTATIONS.contains(k)) {
                throw invalid("unsupported JSON Schema keyword '" + k + "' at " + path + " (supported: type, properties, "
                        + "required, additionalProperties, items, minItems, maxItems, enum, const, anyOf, $ref, $defs)");
            }
        }
        if (s.has("$ref")) {
            return ref(s.get("$ref"), path);
        }
        if (s.has("const")) {
            return literals(List.of(s.get("const")));
        }
        if (s.has("enum")) {
            JsonNode e = s.get("enum");
            if (!e.isArray() || e.isEmpty()) {
                throw invalid("'enum' at " + path + " must be a non-empty array");
            }
            List<JsonNode> values = new ArrayList<>();
            e.forEach(values::add);
            return literals(values);
        }
        if (s.has("anyOf")) {
            JsonNode a = s.get("anyOf");
            if (!a.isArray() || a.isEmpty()) {
                throw invalid("'anyOf' at " + path + " must be a non-empty array");
            }
            SchemaNode n = new SchemaNode(SchemaNode.Kind.ANY_OF);
            n.options = new SchemaNode[a.size()];
            for (int i = 0; i < a.size(); i++) {
                n.options[i] = node(a.get(i), path + "/anyOf/" + i);
            }
            return n;
        }
        JsonNode type = s.get("type");
        if (type == null) {
            if (s.has("properties") || s.has("additionalProperties") || s.has("required")) {
                return typed("object", s, path);
            }
            if (s.has("items") || s.has("minItems") || s.has("maxItems")) {
                return typed("array", s, path);
            }
            return SchemaNode.ANY;
        }
        if (type.isTextual()) {
            return typed(type.textValue(), s, path);
        }
        if (type.isArray() && !type.isEmpty()) {
            SchemaNode n = new SchemaNode(SchemaNode.Kind.ANY_OF);
            n.options = new SchemaNode[type.size()];
            for (int i = 0; i < type.size(); i++) {
                if (!type.get(i).isTextual()) {
                    throw invalid("'type' at " + path + " must be a string or a list of strings");
                }
                n.options[i] = typed(type.get(i).textValue(), s, path);
            }
            return n;
        }
        throw invalid("'type' at " + path + " must be a string or a non-empty list of strings");
    }

    private SchemaNode typed(String type, JsonNode s, String path) {
        return switch (type) {
            case "object" -> object(s, path);
            case "array" -> array(s, path);
            case "string" -> new SchemaNode(SchemaNode.Kind.STRING);
            case "number" -> new SchemaNode(SchemaNode.Kind.NUMBER);
            case "integer" -> new SchemaNode(SchemaNode.Kind.INTEGER);
            case "boolean" -> new SchemaNode(SchemaNode.Kind.BOOLEAN);
            case "null" -> new SchemaNode(SchemaNode.Kind.NULL);
            default -> throw invalid("unknown type '" + type + "' at " + path);
        };
    }

    private SchemaNode object(JsonNode s, String path) {
        SchemaNode n = new SchemaNode(SchemaNode.Kind.OBJECT);
        JsonNode props = s.get("properties");
        JsonNode additional = s.get("additionalProperties");
        if (props != null && !props.isObject()) {
            throw invalid("'properties' at " + path + " must be an object");
        }
        List<String> names = new ArrayList<>();
        if (props != null) {
            props.fieldNames().forEachRemaining(names::add);
        }
        if (names.size() > MAX_PROPERTIES) {
            throw invalid("an object at " + path + " has " + names.size() + " properties; at most " + MAX_PROPERTIES
                    + " are supported");
        }
        // sorted by their escaped bytes, so that the names sharing a prefix are adjacent
        byte[][] keys = new byte[names.size()][];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = escapedName(names.get(i));
        }
        Integer[] order = new Integer[keys.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Arrays.compareUnsigned(keys[a], keys[b]));
        n.names = new byte[keys.length][];
        n.props = new SchemaNode[keys.length];
        for (int i = 0; i < order.length; i++) {
            String name = names.get(order[i]);
            n.names[i] = keys[order[i]];
            n.props[i] = node(props.get(name), path + "/properties/" + name);
        }
        JsonNode required = s.get("required");
        if (required != null) {
            if (!required.isArray()) {
                throw invalid("'required' at " + path + " must be an array of property names");
            }
            for (JsonNode r : required) {
                int i = indexOf(n.names, r.isTextual() ? escapedName(r.textValue()) : null);
                if (i < 0) {
                    throw invalid("required property " + r + " at " + path + " is not in 'properties'");
                }
                n.requiredMask |= 1L << i;
            }
        }
        if (names.isEmpty()) {
            if (additional == null || additional.isBoolean() && additional.booleanValue()) {
                n.additional = SchemaNode.ANY;
            } else if (additional.isBoolean()) {
                n.additional = null;
            } else {
                n.additional = node(additional, path + "/additionalProperties");
            }
        } else if (additional != null && !additional.isBoolean()) {
            node(additional, path + "/additionalProperties"); // checked, but only declared keys are generated
        }
        return n;
    }

    private SchemaNode array(JsonNode s, String path) {
        SchemaNode n = new SchemaNode(SchemaNode.Kind.ARRAY);
        JsonNode items = s.get("items");
        if (items != null && items.isArray()) {
            throw invalid("'items' as a list (tuple validation) at " + path + " is not supported");
        }
        n.items = items == null ? SchemaNode.ANY : node(items, path + "/items");
        n.minItems = count(s, "minItems", 0, path);
        n.maxItems = count(s, "maxItems", -1, path);
        if (n.maxItems >= 0 && n.maxItems < n.minItems) {
            throw invalid("maxItems " + n.maxItems + " is below minItems " + n.minItems + " at " + path);
        }
        return n;
    }

    private int count(JsonNode s, String key, int absent, String path) {
        JsonNode v = s.get(key);
        if (v == null) {
            return absent;
        }
        if (!v.canConvertToInt() || !v.isIntegralNumber() || v.intValue() < 0 || v.intValue() > 100_000) {
            throw invalid("'" + key + "' at " + path + " must be an integer in [0, 100000], got " + v);
        }
        return v.intValue();
    }

    private SchemaNode ref(JsonNode r, String path) {
        if (!r.isTextual()) {
            throw invalid("'$ref' at " + path + " must be a string");
        }
        String target = r.textValue();
        SchemaNode done = refs.get(target);
        if (done != null) {
            return done;
        }
        JsonNode t;
        if (target.equals("#")) {
            t = root;
        } else if (target.startsWith("#/$defs/") || target.startsWith("#/definitions/")) {
            t = root.at(target.substring(1));
        } else {
            throw invalid("'$ref' " + target + " at " + path + " is not supported (only #, #/$defs/... and "
                    + "#/definitions/...)");
        }
        if (t == null || t.isMissingNode()) {
            throw invalid("'$ref' " + target + " at " + path + " points nowhere");
        }
        // a placeholder first, so that a recursive reference finds it; filled in from the target below
        SchemaNode placeholder = new SchemaNode(SchemaNode.Kind.ANY_OF);
        refs.put(target, placeholder);
        SchemaNode resolved = node(t, target);
        placeholder.options = new SchemaNode[] {resolved};
        return placeholder;
    }

    private SchemaNode literals(List<JsonNode> values) {
        SchemaNode n = new SchemaNode(SchemaNode.Kind.LITERALS);
        n.literals = new byte[values.size()][];
        for (int i = 0; i < values.size(); i++) {
            try {
                n.literals[i] = MAPPER.writeValueAsString(values.get(i)).getBytes(StandardCharsets.UTF_8);
            } catch (JacksonException e) {
                throw invalid("cannot write the literal " + values.get(i));
            }
        }
        return n;
    }

    private static byte[] escapedName(String name) {
        try {
            String quoted = MAPPER.writeValueAsString(name);
            return quoted.substring(1, quoted.length() - 1).getBytes(StandardCharsets.UTF_8);
        } catch (JacksonException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int indexOf(byte[][] names, byte[] name) {
        for (int i = 0; name != null && i < names.length; i++) {
            if (Arrays.equals(names[i], name)) {
                return i;
            }
        }
        return -1;
    }

    private RequestException invalid(String message) {
        return new RequestException(RequestException.Kind.INVALID, message, param, null);
    }

    /** Fills {@link SchemaNode#minBytes} below {@code n}; a node on the current path counts as unbounded. */
    private static int computeMinBytes(SchemaNode n, IdentityHashMap<SchemaNode, Boolean> onPath) {
        if (n.minBytes >= 0) {
            return n.minBytes;
        }
        if (onPath.containsKey(n)) {
            return SchemaNode.UNBOUNDED;
        }
        onPath.put(n, Boolean.TRUE);
        long m = switch (n.kind) {
            case ANY, NUMBER, INTEGER -> 1;
            case STRING -> 2;
            case BOOLEAN, NULL -> 4;
            case LITERALS -> Arrays.stream(n.literals).mapToInt(b -> b.length).min().orElseThrow();
            case ANY_OF -> {
                long best = SchemaNode.UNBOUNDED;
                for (SchemaNode o : n.options) {
                    best = Math.min(best, computeMinBytes(o, onPath));
                }
                yield best;
            }
            case ARRAY -> {
                int item = computeMinBytes(n.items, onPath);
                yield n.minItems == 0 ? 2 : 2 + (long) n.minItems * item + n.minItems - 1;
            }
            case OBJECT -> {
                long sum = 2;
                int required = 0;
                for (int i = 0; i < n.props.length; i++) {
                    int v = computeMinBytes(n.props[i], onPath);
                    if ((n.requiredMask & (1L << i)) != 0) {
                        sum += n.names[i].length + 3 + v;
                        required++;
                    }
                }
                if (n.additional != null) {
                    computeMinBytes(n.additional, onPath);
                }
                yield sum + Math.max(0, required - 1);
            }
        };
        onPath.remove(n);
        n.minBytes = (int) Math.min(m, SchemaNode.UNBOUNDED);
        return n.minBytes;
    }
}
