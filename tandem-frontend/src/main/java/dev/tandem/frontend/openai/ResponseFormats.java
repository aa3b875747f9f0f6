package dev.tandem.frontend.openai;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.OutputConstraint;
import dev.tandem.core.RequestException;
import dev.tandem.engine.grammar.SchemaCompiler;

/**
 * OpenAI's {@code response_format}: {@code {"type": "text"}} (no constraint),
 * {@code {"type": "json_object"}} (any JSON object) and {@code {"type": "json_schema",
 * "json_schema": {"name", "schema", "strict", "description"}}}. The schema is checked against
 * the engine's supported subset here, so a bad one is a 400 before the request is queued.
 *
 * <p>Stateless.
 */
public final class ResponseFormats {
    private ResponseFormats() {
    }

    /**
     * The constraint {@code response_format} asks for, or null for none.
     *
     * @throws ApiException 400 naming the field at fault
     */
    public static OutputConstraint parse(JsonNode format) {
        if (format == null || format.isNull()) {
            return null;
        }
        if (!format.isObject()) {
            throw ApiException.invalid("response_format", "'response_format' must be an object, got " + format);
        }
        JsonNode type = format.get("type");
        if (type == null || !type.isTextual()) {
            throw ApiException.invalid("response_format.type",
                    "'response_format.type' must be one of 'text', 'json_object', 'json_schema'");
        }
        return switch (type.textValue()) {
            case "text" -> null;
            case "json_object" -> OutputConstraint.jsonSchema(OutputConstraint.ANY_OBJECT_SCHEMA);
            case "json_schema" -> jsonSchema(format.get("json_schema"));
            default -> throw ApiException.invalid("response_format.type", "'response_format.type' must be one of "
                    + "'text', 'json_object', 'json_schema', got '" + type.textValue() + "'");
        };
    }

    private static OutputConstraint jsonSchema(JsonNode js) {
        if (js == null || !js.isObject()) {
            throw ApiException.invalid("response_format.json_schema",
                    "'response_format.json_schema' is required with type 'json_schema' and must be an object");
        }
        JsonNode name = js.get("name");
        if (name == null || !name.isTextual() || !name.textValue().matches("[A-Za-z0-9_-]{1,64}")) {
            throw ApiException.invalid("response_format.json_schema.name", "'response_format.json_schema.name' must "
                    + "be 1 to 64 letters, digits, '_' or '-'");
        }
        JsonNode strict = js.get("strict");
        if (strict != null && !strict.isNull() && !strict.isBoolean()) {
            throw ApiException.invalid("response_format.json_schema.strict",
                    "'response_format.json_schema.strict' must be a boolean");
        }
        JsonNode schema = js.get("schema");
        if (schema == null || schema.isNull()) {
            return OutputConstraint.jsonSchema("{}");
        }
        return OutputConstraint.jsonSchema(checked(schema, "response_format.json_schema.schema"));
    }

    /**
     * {@code schema} as JSON text, checked against the supported subset.
     *
     * @throws ApiException 400 naming {@code param} and the unsupported keyword
     */
    public static String checked(JsonNode schema, String param) {
        if (!schema.isObject() && !schema.isBoolean()) {
            throw ApiException.invalid(param, "'" + param + "' must be a JSON Schema object");
        }
        String text = schema.toString();
        try {
            SchemaCompiler.check(text, param);
        } catch (RequestException e) {
            throw ApiException.invalid(param, e.getMessage());
        }
        return text;
    }
}
