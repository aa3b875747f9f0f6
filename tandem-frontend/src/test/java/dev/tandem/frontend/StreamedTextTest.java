package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.engine.mock.TimingProfile;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Incremental detokenisation over HTTP. The mock workers' tokens are single bytes (the byte-level
 * test tokenizer), so sampled text is full of multi-byte characters split across tokens: a
 * stream that emitted half a character would show U+FFFD where the whole answer has the
 * character.
 */
@Timeout(60)
class StreamedTextTest {
    private static Harness h;

    @BeforeAll
    static void start() {
        h = Harness.mock(1, TimingProfile.DYNAMO.withSpeedup(1e6), c -> c);
    }

    @AfterAll
    static void stop() {
        h.close();
    }

    @Test
    void stream_byteTokensSplittingCharacters_sameTextAsWholeAnswer() throws Exception {
        String base = "{\"prompt\": \"caf\\u00e9 \\u2713\", \"max_tokens\": 400, \"ignore_eos\": true,"
                + " \"temperature\": 1.0, \"seed\": 11";

        String whole = h.postJson("/v1/completions", base + "}").get("choices").get(0).get("text").asText();
        HttpResponse<String> streamed = h.post("/v1/completions", base + ", \"stream\": true}");

        long twoByteChars = whole.chars().filter(c -> c >= 0x80 && c < 0x800).count();
        assertThat(twoByteChars).as("characters made of two byte tokens in %s", whole).isPositive();
        assertThat(Harness.streamedText(streamed.body())).isEqualTo(whole);
        for (String event : Harness.events(streamed.body())) {
            // every frame is valid JSON text on its own (no lone surrogate, no broken escape)
            assertThat(event.equals("[DONE]") || Harness.json(event).has("choices")).as(event).isTrue();
        }
    }
}
