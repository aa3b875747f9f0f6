package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code response_format} through the real HTTP API on stories260K: for seeded random schemas in
 * the supported subset, every choice (n = 2, two workers, temperatures 0 and 1, streamed and not)
 * parses, validates against its schema (an independent validator) and ends with "stop".
 */
@Timeout(300)
class StructuredOutputTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final int SCHEMAS = 12;
    private static Harness h;
    private static final JsonSchemaFactory FACTORY = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);

    @BeforeAll
    static void start() {
        h = Harness.stories(2);
    }

    @AfterAll
    static void stop() {
        h.close();
    }

    @Test
    void chat_randomSchemas_everyChoiceValidates() throws Exception {
        for (long seed = 1; seed <= SCHEMAS; seed++) {
            ObjectNode schema = randomObject(new SplittableRandom(seed), 0);
            JsonSchema validator = FACTORY.getSchema(schema);
            for (float t : new float[] {0f, 1f}) {
                for (boolean stream : new boolean[] {false, true}) {
                    ObjectNode body = Harness.JSON.createObjectNode();
                    body.putArray("messages").addObject().put("role", "user").put("content", "Tell me a story");
                    body.put("max_tokens", 120).put("temperature", t).put("seed", seed).put("n", 2)
                            .put("stream", stream);
                    ObjectNode format = body.putObject("response_format");
                    format.put("type", "json_schema");
                    format.putObject("json_schema").put("name", "s" + seed).put("strict", true).set("schema", schema);
                    for (Choice c : choices(body.toString(), stream)) {
                        String where = "seed " + seed + " t " + t + " stream " + stream + " schema " + schema
                                + " output " + c.text;
                        assertThat(c.finishReason).as(where).isEqualTo("stop");
                        assertThat(validator.validate(Harness.json(c.text))).as(where).isEmpty();
                    }
                }
            }
        }
    }

    @Test
    void chat_jsonObjectMode_answersAnObject() throws Exception {
        String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 80, "
                + "\"temperature\": 1, \"seed\": 3, \"response_format\": {\"type\": \"json_object\"}}";
        for (Choice c : choices(body, false)) {
            assertThat(Harness.json(c.text).isObject()).as(c.text).isTrue();
        }
    }

    @Test
    void completions_enumSchema_answersOneOfTheValues() throws Exception {
        String body = "{\"prompt\": \"Once upon a time\", \"max_tokens\": 20, \"temperature\": 1, \"seed\": 5, "
                + "\"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"e\", "
                + "\"schema\": {\"enum\": [\"cat\", \"dog\", 42]}}}}";
        JsonNode r = h.postJson("/v1/completions", body);
        // JSON allows whitespace before the value (an SPM model's pieces mostly start with a space)
        assertThat(r.at("/choices/0/text").asText().strip()).isIn("\"cat\"", "\"dog\"", "42");
        assertThat(r.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
    }

    private record Choice(String text, String finishReason) {
    }

    private static List<Choice> choices(String body, boolean stream) throws Exception {
        HttpResponse<String> r = h.post(CHAT, body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        List<Choice> out = new ArrayList<>();
        if (!stream) {
            for (JsonNode c : Harness.json(r.body()).get("choices")) {
                out.add(new Choice(c.at("/message/content").asText(), c.get("finish_reason").asText()));
            }
            return out;
        }
        StringBuilder[] texts = {new StringBuilder(), new StringBuilder()};
        String[] reasons = new String[2];
        for (String e : Harness.events(r.body())) {
            if (e.equals("[DONE]")) {
                continue;
            }
            for (JsonNode c : Harness.json(e).get("choices")) {
                int i = c.get("index").asInt();
                JsonNode content = c.at("/delta/content");
                if (content.isTextual()) {
                    texts[i].append(content.asText());
                }
                if (c.hasNonNull("finish_reason")) {
                    reasons[i] = c.get("finish_reason").asText();
                }
            }
        }
        for (int i = 0; i < 2; i++) {
            out.add(new Choice(texts[i].toString(), reasons[i]));
        }
        return out;
    }

    private static final String[] NAMES = {"title", "hero", "age", "happy", "friends", "place", "mood"};

    private static ObjectNode randomObject(SplittableRandom r, int depth) {
        ObjectNode n = Harness.JSON.createObjectNode();
        n.put("type", "object").put("additionalProperties", false);
        ObjectNode props = n.putObject("properties");
        ArrayNode required = n.putArray("required");
        int count = 1 + r.nextInt(3);
        for (int i = 0; i < count; i++) {
            String name = NAMES[r.nextInt(NAMES.length)];
            if (props.has(name)) {
                continue;
            }
            props.set(name, randomValue(r, depth + 1));
            if (r.nextInt(3) > 0) {
                required.add(name);
            }
        }
        return n;
    }

    private static ObjectNode randomValue(SplittableRandom r, int depth) {
        ObjectNode n = Harness.JSON.createObjectNode();
        switch (r.nextInt(depth >= 2 ? 6 : 8)) {
            case 0 -> n.put("type", "string");
            case 1 -> n.put("type", "integer");
            case 2 -> n.put("type", "number");
            case 3 -> n.putArray("type").add("boolean").add("null");
            case 4 -> n.putArray("enum").add("sunny").add("rainy").add(7);
            case 5 -> n.put("const", "fixed");
            case 6 -> {
                return randomObject(r, depth);
            }
            default -> {
                n.put("type", "array").put("minItems", 1).put("maxItems", 3);
                n.set("items", randomValue(r, depth + 1));
            }
        }
        return n;
    }
}
