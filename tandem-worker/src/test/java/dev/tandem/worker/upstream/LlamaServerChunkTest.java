package dev.tandem.worker.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class LlamaServerChunkTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void tokenChunk_idsAndNotStopped() throws IOException {
        LlamaServerChunk c = LlamaServerChunk.parse("{\"index\":0,\"content\":\" there\",\"tokens\":[383,7],"
                + "\"stop\":false,\"id_slot\":-1,\"tokens_predicted\":3,\"tokens_evaluated\":3}", JSON);

        assertThat(c.tokens()).containsExactly(383, 7);
        assertThat(c.stop()).isFalse();
        assertThat(c.error()).isNull();
        assertThat(c.probs().isMissingNode()).isTrue();
    }

    /** The last chunk: echoed settings (nested objects, arrays, floats) skipped, the cached count read. */
    @Test
    void lastChunk_settingsSkipped_limitAndCachedCountRead() throws IOException {
        LlamaServerChunk c = LlamaServerChunk.parse("{\"index\":0,\"content\":\"\",\"tokens\":[],\"id_slot\":3,"
                + "\"stop\":true,\"generation_settings\":{\"temperature\":0.0,\"top_p\":0.949999988079071,"
                + "\"dry_sequence_breakers\":[\"\\n\",\":\"],\"stop\":[],\"lora\":[],\"speculative.types\":\"none\"},"
                + "\"prompt\":\"<s>\",\"truncated\":false,\"stop_type\":\"limit\",\"tokens_cached\":5,"
                + "\"timings\":{\"prompt_n\":3,\"prompt_ms\":0.526,\"cache_n\":12,\"predicted_n\":3}}", JSON);

        assertThat(c.tokens()).isEmpty();
        assertThat(c.stop()).isTrue();
        assertThat(c.limit()).isTrue();
        assertThat(c.cachedTokens()).isEqualTo(12);
    }

    @Test
    void eosStop_truncated_probsAndError() throws IOException {
        assertThat(LlamaServerChunk.parse("{\"stop\":true,\"stop_type\":\"eos\",\"timings\":{}}", JSON).limit())
                .isFalse();
        assertThat(LlamaServerChunk.parse("{\"stop\":true,\"truncated\":true}", JSON).limit()).isTrue();
        assertThat(LlamaServerChunk.parse("{\"stop\":true}", JSON).cachedTokens()).isEqualTo(-1);
        LlamaServerChunk probs = LlamaServerChunk.parse("{\"tokens\":[5],\"completion_probabilities\":"
                + "[{\"id\":5,\"logprob\":-0.5,\"top_logprobs\":[{\"id\":5,\"logprob\":-0.5}]}]}", JSON);
        assertThat(probs.probs().path(0).path("logprob").asDouble()).isEqualTo(-0.5);
        LlamaServerChunk error = LlamaServerChunk.parse("{\"error\":{\"code\":500,\"message\":\"boom\"}}", JSON);
        assertThat(error.error().path("message").asText()).isEqualTo("boom");
    }

    @Test
    void malformed_notAnObject_nonIntegerIds_truncatedText() {
        for (String bad : new String[] {"[1,2]", "7", "{\"tokens\":[\"seven\"]}", "{\"tokens\":[1.5]}",
                "{\"tokens\":[99999999999]}", "{\"tokens\":5}", "{\"tokens\":[1,", "{\"stop\":tr"}) {
            assertThatThrownBy(() -> LlamaServerChunk.parse(bad, JSON)).as(bad).isInstanceOf(IOException.class);
        }
    }
}
