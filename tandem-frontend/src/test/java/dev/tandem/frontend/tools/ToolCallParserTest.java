package dev.tandem.frontend.tools;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class ToolCallParserTest {

    /** A parsed reply: content, and calls as "id name arguments". */
    private record Reply(String content, List<String> calls) {
    }

    private static Reply parse(ToolCallFormat format, boolean parallel, List<String> pieces) {
        AtomicInteger next = new AtomicInteger();
        ToolCallParser p = new ToolCallParser(format, parallel, () -> "call_" + next.getAndIncrement());
        StringBuilder content = new StringBuilder();
        List<String[]> calls = new ArrayList<>();
        List<ToolCallParser.Output> outs = new ArrayList<>();
        for (String piece : pieces) {
            outs.add(p.push(piece));
        }
        outs.add(p.finish());
        for (ToolCallParser.Output o : outs) {
            content.append(o.content());
            for (ToolCallDelta d : o.calls()) {
                if (d.index() == calls.size()) {
                    assertThat(d.id()).as("first delta of call %d", d.index()).isNotNull();
                    assertThat(d.name()).isNotNull();
                    calls.add(new String[] {d.id(), d.name(), d.arguments()});
                } else {
                    assertThat(d.index()).isEqualTo(calls.size() - 1);
                    assertThat(d.id()).isNull();
                    calls.getLast()[2] += d.arguments();
                }
            }
        }
        return new Reply(content.toString(), calls.stream().map(c -> c[0] + " " + c[1] + " " + c[2]).toList());
    }

    private static Reply whole(ToolCallFormat format, String text) {
        return parse(format, true, List.of(text));
    }

    /** The same text cut at every position into two pieces, and into random pieces: one answer. */
    private static Reply everySplit(ToolCallFormat format, String text) {
        Reply expected = whole(format, text);
        for (int i = 0; i <= text.length(); i++) {
            assertThat(parse(format, true, List.of(text.substring(0, i), text.substring(i))))
                    .as("split at %d", i).isEqualTo(expected);
        }
        SplittableRandom r = new SplittableRandom(7);
        for (int round = 0; round < 50; round++) {
            List<String> pieces = new ArrayList<>();
            for (int at = 0; at < text.length(); ) {
                int len = 1 + r.nextInt(4);
                pieces.add(text.substring(at, Math.min(text.length(), at + len)));
                at += len;
            }
            assertThat(parse(format, true, pieces)).as("pieces %s", pieces).isEqualTo(expected);
        }
        return expected;
    }

    @Test
    void hermes_twoCallsAndText_splitIntoContentAndCalls() {
        Reply r = everySplit(ToolCallFormat.HERMES, "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", "
                + "\"arguments\": {\"city\": \"Paris\", \"days\": [1, 2]}}\n</tool_call>\n<tool_call>\n"
                + "{\"arguments\": {\"q\": \"}{\"}, \"name\": \"search\"}\n</tool_call>");

        assertThat(r.content()).isEqualTo("Let me look.");
        assertThat(r.calls()).containsExactly("call_0 get_weather {\"city\": \"Paris\", \"days\": [1, 2]}",
                "call_1 search {\"q\": \"}{\"}");
    }

    @Test
    void llama3_bareJsonReply_isACall() {
        Reply r = everySplit(ToolCallFormat.LLAMA3, " {\"name\": \"add\", \"parameters\": {\"a\": 1, \"b\": -2.5e3}}");

        assertThat(r.content()).isEmpty();
        assertThat(r.calls()).containsExactly("call_0 add {\"a\": 1, \"b\": -2.5e3}");
    }

    @Test
    void llama3_pythonTagAndSemicolons_severalCalls() {
        Reply r = everySplit(ToolCallFormat.LLAMA3, "<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; "
                + "{\"name\": \"b\", \"parameters\": {\"x\": true}}");

        assertThat(r.calls()).containsExactly("call_0 a {}", "call_1 b {\"x\": true}");
    }

    @Test
    void llama3_jsonThatIsNoCall_staysContent() {
        Reply r = everySplit(ToolCallFormat.LLAMA3, "{\"city\": \"Paris\"} is the answer");

        assertThat(r.calls()).isEmpty();
        assertThat(r.content()).isEqualTo("{\"city\": \"Paris\"} is the answer");
    }

    @Test
    void mistral_arrayOfCalls_parsed() {
        Reply r = everySplit(ToolCallFormat.MISTRAL, "[TOOL_CALLS] [{\"name\": \"f\", \"arguments\": {\"n\": 3}}, "
                + "{\"name\": \"g\", \"arguments\": {}}]");

        assertThat(r.content()).isEmpty();
        assertThat(r.calls()).containsExactly("call_0 f {\"n\": 3}", "call_1 g {}");
    }

    @Test
    void hermes_malformedCall_fallsBackToContent() {
        String text = "Hi <tool_call> not json at all";
        Reply r = everySplit(ToolCallFormat.HERMES, text);

        assertThat(r.calls()).isEmpty();
        assertThat(r.content()).isEqualTo(text);
    }

    @Test
    void hermes_objectWithoutName_fallsBackToContent() {
        String text = "<tool_call>{\"arguments\": {\"a\": 1}}</tool_call>";
        Reply r = everySplit(ToolCallFormat.HERMES, text);

        assertThat(r.calls()).isEmpty();
        assertThat(r.content()).isEqualTo(text);
    }

    @Test
    void hermes_nameNotAString_fallsBackToContent() {
        String text = "<tool_call>{\"name\": 12, \"arguments\": {}}</tool_call>";

        assertThat(everySplit(ToolCallFormat.HERMES, text)).isEqualTo(new Reply(text, List.of()));
    }

    @Test
    void hermes_markerPrefixThatNeverCompletes_releasedAsContent() {
        assertThat(everySplit(ToolCallFormat.HERMES, "a <tool_c")).isEqualTo(new Reply("a <tool_c", List.of()));
        assertThat(everySplit(ToolCallFormat.HERMES, "text  \n")).isEqualTo(new Reply("text  \n", List.of()));
    }

    @Test
    void hermes_callCutOffByTheTokenBudget_keepsWhatArrived() {
        Reply r = whole(ToolCallFormat.HERMES, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, 2");

        assertThat(r.calls()).containsExactly("call_0 f {\"a\": [1, 2");
    }

    @Test
    void hermes_callWithoutArguments_getsEmptyObject() {
        assertThat(whole(ToolCallFormat.HERMES, "<tool_call>{\"name\": \"now\"}</tool_call>").calls())
                .containsExactly("call_0 now {}");
    }

    @Test
    void hermes_parallelOff_keepsTheFirstCall() {
        Reply r = parse(ToolCallFormat.HERMES, false, List.of("<tool_call>{\"name\": \"a\", \"arguments\": {}}"
                + "</tool_call><tool_call>{\"name\": \"b\", \"arguments\": {\"x\": 1}}</tool_call>"));

        assertThat(r.calls()).containsExactly("call_0 a {}");
        assertThat(r.content()).isEmpty();
    }

    @Test
    void stream_argumentsGoOutAsTheyArrive() {
        ToolCallParser p = new ToolCallParser(ToolCallFormat.HERMES, true, () -> "call_x");

        ToolCallParser.Output first = p.push("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\"");
        ToolCallParser.Output second = p.push(": 1}}</tool_call>");

        assertThat(first.calls()).containsExactly(new ToolCallDelta(0, "call_x", "f", "{\"a\""));
        assertThat(second.calls()).containsExactly(new ToolCallDelta(0, null, null, ": 1}"));
        assertThat(p.finish().isEmpty()).isTrue();
    }

    @Test
    void detect_templates_chooseTheFamilyFormat() {
        assertThat(ToolCallFormat.detect("{{ '<tool_call>' }}")).isEqualTo(ToolCallFormat.HERMES);
        assertThat(ToolCallFormat.detect("{{ '<|python_tag|>' }}")).isEqualTo(ToolCallFormat.LLAMA3);
        assertThat(ToolCallFormat.detect("{{ '[TOOL_CALLS]' }}")).isEqualTo(ToolCallFormat.MISTRAL);
        assertThat(ToolCallFormat.detect("{% for m in messages %}{{ m.content }}{% endfor %}"))
                .isEqualTo(ToolCallFormat.HERMES);
    }
}
