package dev.tandem.engine.mock;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.OutputConstraint;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RequestException;
import dev.tandem.core.SamplingParams;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.LoadedModel;
import dev.tandem.engine.grammar.ConstrainedGenerationTestFiles;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A mock engine given a model's grammars masks its pseudo tokens like a real model's logits: its
 * constrained output is a valid value; without grammars a constrained request is refused.
 */
@Timeout(60)
class MockEngineConstraintTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final String SCHEMA = "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"},"
            + "\"age\":{\"type\":\"integer\"},\"pet\":{\"enum\":[\"cat\",\"dog\"]}},\"required\":[\"name\",\"age\",\"pet\"]}";

    private static MockConfig config(int vocabSize) {
        return MockConfig.DEFAULT.withVocabSize(vocabSize).withEngine(EngineConfig.DEFAULT.withKvBlocks(64))
                .withTiming(TimingProfile.DYNAMO.withSpeedup(1000));
    }

    @Test
    void submit_constraintWithModelGrammars_outputValidates() throws Exception {
        try (LoadedModel model = LoadedModel.open(ConstrainedGenerationTestFiles.stories(), "stories260K");
             LlmEngine engine = MockEngine.start(config(model.tokenizer().vocabSize()), model.grammars())) {
            for (long seed = 1; seed <= 3; seed++) {
                RecordingSink sink = new RecordingSink();
                engine.submit(new GenerateRequest("m" + seed, new int[] {1, 2, 3},
                        SamplingParams.GREEDY.withTemperature(1f).withSeed(seed), 120, null, false, -1)
                        .withConstraint(OutputConstraint.jsonSchema(SCHEMA)), sink);
                sink.finished.get(30, TimeUnit.SECONDS);
                String text = model.tokenizer().decode(sink.tokens.stream().mapToInt(t -> t.tokenId()).toArray());

                assertThat(sink.reason).as(text).isEqualTo(FinishReason.STOP);
                assertThat(MAPPER.readTree(text).get("age").isIntegralNumber()).as(text).isTrue();
                assertThat(MAPPER.readTree(text).get("pet").asText()).as(text).isIn("cat", "dog");
            }
        }
    }

    @Test
    void submit_constraintWithoutGrammars_refusedNamingTheReason() throws Exception {
        try (LlmEngine engine = MockEngine.start(config(512))) {
            RecordingSink sink = new RecordingSink();
            String message;
            try {
                engine.submit(new GenerateRequest("m", new int[] {1, 2}, SamplingParams.GREEDY, 10, null, false, -1)
                        .withConstraint(OutputConstraint.jsonSchema(SCHEMA)), sink);
                sink.finished.handle((r, e) -> r).get(10, TimeUnit.SECONDS);
                message = sink.error == null ? null : sink.error.getMessage();
            } catch (RequestException e) {
                message = e.getMessage();
            }
            assertThat(message).contains("no tokenizer to constrain the output");
        }
    }
}
