package dev.tandem.engine.grammar;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.SplittableRandom;

/** Seeded random JSON Schemas within the supported subset. */
final class RandomSchemas {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final String[] NAMES = {"id", "name", "age", "tags", "ok", "note", "kind", "items", "a", "ab"};

    private RandomSchemas() {
    }

    static String schema(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        ObjectNode root = object(r, 0);
        if (r.nextInt(4) == 0) {
            ObjectNode defs = root.putObject("$defs");
            defs.set("Item", node(r, 2));
            ((ObjectNode) root.get("properties")).putObject("ref").put("$ref", "#/$defs/Item");
        }
        return root.toString();
    }

    private static ObjectNode node(SplittableRandom r, int depth) {
        int k = r.nextInt(depth >= 2 ? 7 : 10);
        ObjectNode n = MAPPER.createObjectNode();
        switch (k) {
            case 0 -> n.put("type", "string");
            case 1 -> n.put("type", "integer");
            case 2 -> n.put("type", "number");
            case 3 -> n.put("type", "boolean");
            case 4 -> n.put("type", "null");
            case 5 -> {
                ArrayNode e = n.putArray("enum");
                e.add("red").add("green").add(3).add(r.nextBoolean());
            }
            case 6 -> {
                ArrayNode any = n.putArray("anyOf");
                any.addObject().put("type", "integer");
                any.addObject().put("type", "string");
            }
            case 7, 8 -> {
                return object(r, depth + 1);
            }
            default -> {
                n.put("type", "array");
                n.set("items", node(r, depth + 1));
                int min = r.nextInt(3);
                n.put("minItems", min);
                if (r.nextBoolean()) {
                    n.put("maxItems", min + r.nextInt(3));
                }
            }
        }
        return n;
    }

    private static ObjectNode object(SplittableRandom r, int depth) {
        ObjectNode n = MAPPER.createObjectNode();
        n.put("type", "object");
        ObjectNode props = n.putObject("properties");
        ArrayNode required = n.putArray("required");
        int count = 1 + r.nextInt(4);
        for (int i = 0; i < count; i++) {
            String name = NAMES[r.nextInt(NAMES.length)];
            if (props.has(name)) {
                continue;
            }
            props.set(name, node(r, depth + 1));
            if (r.nextBoolean()) {
                required.add(name);
            }
        }
        n.put("additionalProperties", false);
        return n;
    }
}
