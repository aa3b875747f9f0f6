package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class StreamParserTest {

    private static RequestResult parse(long[] times, String... lines) {
        StreamParser p = new StreamParser();
        int i = 0;
        for (String line : lines) {
            if (!p.line(line, times[Math.min(i++, times.length - 1)])) {
                break;
            }
        }
        if (!p.finished()) {
            p.end(999);
        }
        RequestResult.Builder b = RequestResult.builder(0, 0, 0).endNs(1000);
        p.fill(b);
        return b.build();
    }

    @Test
    void line_chatChunksWithUsage_textTimesAndCounts() {
        long[] t = {10, 10, 20, 20, 30, 30, 40, 40, 50, 50};
        RequestResult r = parse(t,
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}", "",
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Once\"}}]}", "",
                "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" upon\"},\"finish_reason\":\"length\"}]}", "",
                "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":2,"
                        + "\"prompt_tokens_details\":{\"cached_tokens\":8}}}", "",
                "data: [DONE]", "");
        assertThat(r.ok()).isTrue();
        assertThat(r.reply()).isEqualTo("Once upon");
        assertThat(r.ttftNs()).as("the role-only chunk does not count").isEqualTo(20);
        assertThat(r.itlNs()).containsExactly(10L);
        assertThat(r.promptTokens()).isEqualTo(12);
        assertThat(r.completionTokens()).isEqualTo(2);
        assertThat(r.cachedTokens()).isEqualTo(8);
    }

    @Test
    void line_completionChunksNoSpaceAfterColonCommentsAndOtherFields_parsed() {
        long[] t = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        RequestResult r = parse(t,
                ": keep-alive", "event: message", "id: 7",
                "data:{\"choices\":[{\"text\":\"a\"}]}", "",
                "data: {\"choices\":[{\"text\":\"b\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}", "",
                "data: [DONE]");
        assertThat(r.ok()).isTrue();
        assertThat(r.reply()).isEqualTo("ab");
        assertThat(r.ttftNs()).isEqualTo(5);
        assertThat(r.cachedTokens()).as("not reported").isEqualTo(-1);
    }

    @Test
    void line_multiLineDataEvent_joinedWithNewline() {
        long[] t = {1, 2, 3, 4, 5};
        RequestResult r = parse(t, "data: {\"choices\":", "data: [{\"text\":\"x\"}]}", "", "data: [DONE]", "");
        assertThat(r.ok()).isTrue();
        assertThat(r.reply()).isEqualTo("x");
        assertThat(r.ttftNs()).as("dispatched at the blank line").isEqualTo(3);
    }

    @Test
    void line_malformedChunk_protocolErrorAndStops() {
        long[] t = {1, 2, 3, 4, 5};
        StreamParser p = new StreamParser();
        assertThat(p.line("data: {\"choices\":[{\"text\":\"ok\"}]}", 1)).isTrue();
        assertThat(p.line("", 1)).isTrue();
        assertThat(p.line("data: {\"choices\": [", 2)).isTrue();
        assertThat(p.line("", 2)).isFalse();
        RequestResult.Builder b = RequestResult.builder(0, 0, 0);
        p.fill(b);
        RequestResult r = b.build();
        assertThat(r.errorType()).isEqualTo(RequestResult.PROTOCOL);
        assertThat(r.errorMessage()).contains("{\"choices\": [");
        assertThat(r.reply()).isEqualTo("ok");
        assertThat(t).isNotEmpty();
    }

    @Test
    void line_nonObjectJson_protocolError() {
        RequestResult r = parse(new long[] {1}, "data: 42", "");
        assertThat(r.errorType()).isEqualTo(RequestResult.PROTOCOL);
    }

    @Test
    void line_errorObjectInStream_streamError() {
        RequestResult r = parse(new long[] {1},
                "data: {\"error\":{\"message\":\"worker died\",\"type\":\"server_error\"}}", "");
        assertThat(r.errorType()).isEqualTo(RequestResult.STREAM_ERROR);
        assertThat(r.errorMessage()).isEqualTo("worker died");
    }

    @Test
    void end_withoutDone_truncated() {
        RequestResult r = parse(new long[] {1}, "data: {\"choices\":[{\"text\":\"a\"}]}", "");
        assertThat(r.errorType()).isEqualTo(RequestResult.TRUNCATED);
        assertThat(r.reply()).isEqualTo("a");
    }

    @Test
    void end_pendingEventWithoutBlankLine_dispatched() {
        RequestResult r = parse(new long[] {1}, "data: {\"choices\":[{\"text\":\"a\"}]}", "", "data: [DONE]");
        assertThat(r.ok()).isTrue();
    }

    @Test
    void wholeBody_nonStreamingChatResponse_oneChunkWithUsage() {
        StreamParser p = new StreamParser();
        p.wholeBody("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"hi there\"}}],"
                + "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":0}}}",
                77);
        RequestResult.Builder b = RequestResult.builder(0, 0, 0).endNs(80);
        p.fill(b);
        RequestResult r = b.build();
        assertThat(r.ok()).isTrue();
        assertThat(r.reply()).isEqualTo("hi there");
        assertThat(r.ttftNs()).isEqualTo(77);
        assertThat(r.cachedTokens()).isZero();
    }
}
