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
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Function calling through the real HTTP API on stories260K (its template names no tool-call
 * format: the Hermes default, tools described in a system prompt). A forced call (required, or
 * a named function) must give a call whose arguments validate against that function's schema
 * (an independent validator), streamed and not, at temperatures 0 and 1, n = 2.
 */
@Timeout(300)
class ToolCallingTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final JsonSchemaFactory FACTORY = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);
    private static final String WEATHER_PARAMS = """
            {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
             "units": {"enum": ["celsius", "fahrenheit"]}}, "required": ["city", "units"],
             "additionalProperties": false}""";
    private static final String ROUTE_PARAMS = """
            {"type": "object", "$defs": {"place": {"type": "object", "properties": {"name": {"type": "string"},
             "open": {"type": "boolean"}}, "required": ["name"], "additionalProperties": false}},
             "properties": {"from": {"$ref": "#/$defs/place"}, "stops": {"type": "array",
             "items": {"$ref": "#/$defs/place"}, "maxItems": 2}}, "required": ["from", "stops"],
             "additionalProperties": false}""";
    private static Harness h;
    private static Map<String, JsonSchema> validators;

    @BeforeAll
    static void start() throws Exception {
        h = Harness.stories(2);
        validators = Map.of("get_weather", FACTORY.getSchema(Harness.json(WEATHER_PARAMS)),
                "plan_route", FACTORY.getSchema(Harness.json(ROUTE_PARAMS)));
    }

    @AfterAll
    static void stop() {
        h.close();
    }

    private static ObjectNode request(Object toolChoice, float temperature, long seed, boolean stream)
            throws Exception {
        ObjectNode body = Harness.JSON.createObjectNode();
        body.putArray("messages").addObject().put("role", "user").put("content", "What is the weather in Paris?");
        body.put("max_tokens", 160).put("temperature", temperature).put("seed", seed).put("n", 2)
                .put("stream", stream);
        ArrayNode tools = body.putArray("tools");
        tools.add(tool("get_weather", WEATHER_PARAMS));
        tools.add(tool("plan_route", ROUTE_PARAMS));
        if (toolChoice instanceof String s) {
            body.put("tool_choice", s);
        } else {
            body.set("tool_choice", (JsonNode) toolChoice);
        }
        return body;
    }

    private static ObjectNode tool(String name, String params) throws Exception {
        ObjectNode t = Harness.JSON.createObjectNode();
        t.put("type", "function");
        t.putObject("function").put("name", name).put("description", "a test function")
                .set("parameters", Harness.json(params));
        return t;
    }

    private static JsonNode named(String name) {
        ObjectNode c = Harness.JSON.createObjectNode();
        c.put("type", "function");
        c.putObject("function").put("name", name);
        return c;
    }

    /** One choice's reply: content (null when absent), calls as {id, name, arguments}, finish reason. */
    private record Reply(String content, List<String[]> calls, String finishReason) {
        List<String> namesAndArguments() {
            return calls.stream().map(c -> c[1] + " " + c[2]).toList();
        }
    }

    private static List<Reply> replies(ObjectNode body) throws Exception {
        HttpResponse<String> r = h.post(CHAT, body.toString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return body.get("stream").asBoolean() ? streamed(r.body()) : whole(r.body());
    }

    private static List<Reply> whole(String body) throws Exception {
        List<Reply> out = new ArrayList<>();
        for (JsonNode c : Harness.json(body).get("choices")) {
            JsonNode m = c.get("message");
            List<String[]> calls = new ArrayList<>();
            for (JsonNode call : m.path("tool_calls")) {
                assertThat(call.get("type").asText()).isEqualTo("function");
                calls.add(new String[] {call.get("id").asText(), call.at("/function/name").asText(),
                        call.at("/function/arguments").asText()});
            }
            out.add(new Reply(m.get("content").isNull() ? null : m.get("content").asText(), calls,
                    c.get("finish_reason").asText()));
        }
        return out;
    }

    /** The deltas of a stream put together, per choice. */
    private static List<Reply> streamed(String body) throws Exception {
        Map<Integer, StringBuilder> content = new TreeMap<>();
        Map<Integer, List<String[]>> calls = new TreeMap<>();
        Map<Integer, String> reasons = new TreeMap<>();
        for (String e : Harness.events(body)) {
            if (e.equals("[DONE]")) {
                continue;
            }
            for (JsonNode c : Harness.json(e).get("choices")) {
                int i = c.get("index").asInt();
                JsonNode d = c.get("delta");
                if (d.hasNonNull("content")) {
                    content.computeIfAbsent(i, k -> new StringBuilder()).append(d.get("content").asText());
                }
                List<String[]> list = calls.computeIfAbsent(i, k -> new ArrayList<>());
                for (JsonNode t : d.path("tool_calls")) {
                    int index = t.get("index").asInt();
                    if (index == list.size()) {
                        assertThat(t.get("id").asText()).startsWith("call_");
                        assertThat(t.get("type").asText()).isEqualTo("function");
                        list.add(new String[] {t.get("id").asText(), t.at("/function/name").asText(),
                                t.at("/function/arguments").asText()});
                    } else {
                        assertThat(index).isEqualTo(list.size() - 1);
                        assertThat(t.has("id")).isFalse();
                        list.get(index)[2] += t.at("/function/arguments").asText();
                    }
                }
                if (c.hasNonNull("finish_reason")) {
                    reasons.put(i, c.get("finish_reason").asText());
                }
            }
        }
        List<Reply> out = new ArrayList<>();
        for (int i = 0; i < reasons.size(); i++) {
            StringBuilder text = content.get(i);
            out.add(new Reply(text == null || text.isEmpty() ? null : text.toString(),
                    calls.getOrDefault(i, List.of()), reasons.get(i)));
        }
        return out;
    }

    private static void assertValidCall(Reply r, String expectedName, String where) throws Exception {
        assertThat(r.finishReason()).as(where).isEqualTo("tool_calls");
        assertThat(r.calls()).as(where).hasSize(1);
        String[] call = r.calls().getFirst();
        assertThat(call[0]).as(where).matches("call_[A-Za-z0-9]{24}");
        if (expectedName != null) {
            assertThat(call[1]).as(where).isEqualTo(expectedName);
        }
        assertThat(validators).as(where).containsKey(call[1]);
        assertThat(validators.get(call[1]).validate(Harness.json(call[2]))).as(where + " arguments " + call[2])
                .isEmpty();
        assertThat(r.content()).as(where).isNull();
    }

    @Test
    void chat_toolChoiceRequired_everyChoiceCallsAToolWithValidArguments() throws Exception {
        for (long seed = 1; seed <= 3; seed++) {
            for (float t : new float[] {0f, 1f}) {
                for (boolean stream : new boolean[] {false, true}) {
                    for (Reply r : replies(request("required", t, seed, stream))) {
                        assertValidCall(r, null, "seed " + seed + " t " + t + " stream " + stream);
                    }
                }
            }
        }
    }

    @Test
    void chat_namedFunction_callsThatFunctionWithValidArguments() throws Exception {
        for (String name : List.of("get_weather", "plan_route")) {
            for (float t : new float[] {0f, 1f}) {
                for (boolean stream : new boolean[] {false, true}) {
                    for (Reply r : replies(request(named(name), t, 11, stream))) {
                        assertValidCall(r, name, name + " t " + t + " stream " + stream);
                    }
                }
            }
        }
    }

    @Test
    void chat_streamedToolCalls_assembleToTheWholeReply() throws Exception {
        for (long seed = 1; seed <= 3; seed++) {
            List<Reply> whole = replies(request("required", 1f, seed, false));
            List<Reply> streamed = replies(request("required", 1f, seed, true));

            assertThat(streamed).hasSameSizeAs(whole);
            for (int i = 0; i < whole.size(); i++) {
                assertThat(streamed.get(i).namesAndArguments()).as("seed " + seed + " choice " + i)
                        .isEqualTo(whole.get(i).namesAndArguments());
                assertThat(streamed.get(i).finishReason()).isEqualTo(whole.get(i).finishReason());
            }
        }
    }

    @Test
    void chat_toolResultRoundTrip_answersAfterTheToolMessage() throws Exception {
        Reply call = replies(request(named("get_weather"), 0f, 5, false)).getFirst();
        String[] c = call.calls().getFirst();
        ObjectNode body = request("auto", 0f, 5, false);
        body.put("n", 1).put("max_tokens", 20);
        ArrayNode messages = (ArrayNode) body.get("messages");
        ObjectNode assistant = messages.addObject().put("role", "assistant");
        assistant.putNull("content");
        ObjectNode tc = assistant.putArray("tool_calls").addObject().put("id", c[0]).put("type", "function");
        tc.putObject("function").put("name", c[1]).put("arguments", c[2]);
        messages.addObject().put("role", "tool").put("tool_call_id", c[0]).put("content", "{\"temp\": 21}");

        Reply answer = replies(body).getFirst();

        assertThat(answer.finishReason()).isIn("stop", "length", "tool_calls");
        assertThat(answer.content() != null || !answer.calls().isEmpty()).as("an answer").isTrue();
    }

    @Test
    void chat_toolChoiceNone_answersText() throws Exception {
        ObjectNode body = request("none", 0f, 2, false);
        body.put("max_tokens", 12);

        for (Reply r : replies(body)) {
            assertThat(r.calls()).isEmpty();
            assertThat(r.content()).isNotNull();
            assertThat(r.finishReason()).isIn("stop", "length");
        }
    }
}
