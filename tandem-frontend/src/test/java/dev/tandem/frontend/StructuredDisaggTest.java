package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.TransferKind;
import dev.tandem.core.WorkerRole;
import dev.tandem.runtime.metrics.DisaggMetrics;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A constrained request served disaggregated: the prefill worker samples the first token under
 * the constraint, the decode worker continues the same grammar state, and the answer equals the
 * one-worker answer (greedy).
 */
@Timeout(120)
class StructuredDisaggTest {
    private static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"hero\":{\"type\":\"string\"},"
            + "\"age\":{\"type\":\"integer\"}},\"required\":[\"hero\",\"age\"],\"additionalProperties\":false}";
    private static final String BODY = "{\"prompt\": \"Once upon a time, there was a little girl named Lily. She "
            + "loved to play outside with her ball in the park near her house.\", \"max_tokens\": 60, "
            + "\"temperature\": 0, \"response_format\": {\"type\": \"json_schema\", \"json_schema\": "
            + "{\"name\": \"h\", \"schema\": " + SCHEMA + "}}}";

    @Test
    void remotePrefill_constrainedRequest_sameValidAnswerAsOneWorker() throws Exception {
        String reference;
        try (Harness h = Harness.stories(1)) {
            reference = h.postJson("/v1/completions", BODY).at("/choices/0/text").asText();
        }
        JsonNode value = Harness.json(reference);
        assertThat(value.get("hero").isTextual()).as(reference).isTrue();
        assertThat(value.get("age").isIntegralNumber()).as(reference).isTrue();
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            f.worker("prefill-0", WorkerRole.PREFILL);
            f.worker("decode-0", WorkerRole.DECODE);
            f.start(DispatchConfig.defaults().withDisagg(16, false));
            JsonNode r = f.completion(BODY);
            assertThat(r.at("/choices/0/text").asText()).isEqualTo(reference);
            assertThat(r.at("/choices/0/finish_reason").asText()).isEqualTo("stop");
            assertThat(f.metrics.requests(DisaggMetrics.Path.REMOTE)).isEqualTo(1);
        }
    }
}
