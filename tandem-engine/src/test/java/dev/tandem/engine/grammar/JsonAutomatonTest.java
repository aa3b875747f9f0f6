package dev.tandem.engine.grammar;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.RequestException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class JsonAutomatonTest {
    private static final String PERSON = """
            {"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
             "tags":{"type":"array","items":{"enum":["a","b"]},"minItems":1,"maxItems":2},
             "kind":{"anyOf":[{"type":"null"},{"type":"number"}]}},
             "required":["name","age"],"additionalProperties":false}""";

    private static JsonAutomaton.State run(String schema, String text) {
        JsonAutomaton.State s = JsonAutomaton.start(SchemaCompiler.compile(schema, "p"), new byte[0], new byte[0]);
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return JsonAutomaton.advance(s, b, 0, b.length);
    }

    @Test
    void advance_validObject_isComplete() {
        JsonAutomaton.State s = run(PERSON, "{\"age\": -12, \"name\":\"Zoé \\u00e9\\n\", \"tags\":[\"b\"],\"kind\":1.5e3}");
        assertThat(s).isNotNull();
        assertThat(JsonAutomaton.complete(s)).isTrue();
        assertThat(JsonAutomaton.minBytesToFinish(s)).isZero();
    }

    @Test
    void advance_missingRequired_refusesClose() {
        assertThat(run(PERSON, "{\"name\":\"x\"")).isNotNull();
        assertThat(run(PERSON, "{\"name\":\"x\"}")).isNull();
    }

    @Test
    void advance_undeclaredKeyOrRepeatedKey_refused() {
        assertThat(run(PERSON, "{\"nam\"")).isNull();
        assertThat(run(PERSON, "{\"zzz")).isNull();
        assertThat(run(PERSON, "{\"age\":1,\"age\"")).isNull();
    }

    @Test
    void advance_integerWithFraction_refused() {
        assertThat(run(PERSON, "{\"age\":1.")).isNull();
        assertThat(run(PERSON, "{\"age\":01")).isNull();
    }

    @Test
    void advance_arrayBounds_enforced() {
        assertThat(run(PERSON, "{\"tags\":[]")).isNull();
        assertThat(run(PERSON, "{\"tags\":[\"a\",\"b\",")).isNull();
        assertThat(run(PERSON, "{\"tags\":[\"c\"")).isNull();
    }

    @Test
    void advance_invalidUtf8OrControlCharacter_refused() {
        JsonAutomaton.State s = run(PERSON, "{\"name\":\"");
        assertThat(JsonAutomaton.advance(s, 0x80)).isNull();
        assertThat(JsonAutomaton.advance(s, '\n')).isNull();
        assertThat(JsonAutomaton.advance(JsonAutomaton.advance(s, 0xC3), 'a')).isNull();
    }

    @Test
    void minBytesToFinish_partialObject_countsRequiredProperties() {
        // {"name":"" , "age":0 } -> after '{': "name":"" (9) + , (1) + "age":0 (7) + } (1)
        JsonAutomaton.State s = run(PERSON, "{");
        assertThat(JsonAutomaton.minBytesToFinish(s)).isEqualTo(18);
        assertThat(JsonAutomaton.minBytesToFinish(run(PERSON, "{\"age\":1"))).isEqualTo(1 + 9 + 1);
    }

    @Test
    void advance_whitespaceRun_isBounded() {
        String many = " ".repeat(JsonAutomaton.MAX_WHITESPACE);
        assertThat(run(PERSON, "{" + many)).isNotNull();
        assertThat(run(PERSON, "{" + many + " ")).isNull();
        assertThat(run(PERSON, "{" + many + "\"name\":" + many + "\"\"")).isNotNull();
    }

    @Test
    void advance_anyObjectSchema_acceptsNestedJson() {
        JsonAutomaton.State s = run("{\"type\":\"object\"}", "{\"a\":[1,{\"b\":null},true,\"x\"],\"c\":{}}");
        assertThat(JsonAutomaton.complete(s)).isTrue();
        assertThat(run("{\"type\":\"object\"}", "[")).isNull();
    }

    @Test
    void advance_recursiveRef_followsDefinition() {
        String tree = "{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\","
                + "\"items\":{\"$ref\":\"#/$defs/n\"}}},\"required\":[\"kids\"]}},\"$ref\":\"#/$defs/n\"}";
        assertThat(JsonAutomaton.complete(run(tree, "{\"kids\":[{\"kids\":[]}]}"))).isTrue();
    }

    @Test
    void start_prefixAndSuffix_wrapTheValue() {
        JsonAutomaton.State s = JsonAutomaton.start(SchemaCompiler.compile("{\"type\":\"integer\"}", "p"),
                "<a>".getBytes(StandardCharsets.UTF_8), "</a>".getBytes(StandardCharsets.UTF_8));
        byte[] b = "<a>42</a>".getBytes(StandardCharsets.UTF_8);
        assertThat(JsonAutomaton.complete(JsonAutomaton.advance(s, b, 0, b.length))).isTrue();
    }

    @Test
    void compile_unsupportedKeyword_namesIt() {
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"type\":\"string\",\"pattern\":\"a+\"}", "response_format"))
                .isInstanceOf(RequestException.class).hasMessageContaining("'pattern'");
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"oneOf\":[]}", "response_format"))
                .hasMessageContaining("'oneOf'");
        assertThatThrownBy(() -> SchemaCompiler.compile("{\"type\":\"strin\"}", "response_format"))
                .hasMessageContaining("strin");
        assertThatThrownBy(() -> SchemaCompiler.compile("{not json", "response_format"))
                .hasMessageContaining("not valid JSON");
    }
}
