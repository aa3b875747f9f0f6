package dev.tandem.engine.grammar;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.OutputConstraint;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.SamplingParams;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.mock.VirtualClock;
import dev.tandem.engine.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * stories260K under random schemas: every output parses and validates (checked by an independent
 * JSON Schema validator), at temperatures 0 and 1, and ends with "stop" within its token budget.
 */
class ConstrainedGenerationTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final int SCHEMAS = 30;
    private static final VirtualClock CLOCK = new VirtualClock();
    private static LlmEngine engine;
    private static Tokenizer tokenizer;
    private static GgufFile gguf;

    static Path stories() {
        for (String dir : new String[] {System.getProperty("tandem.test.models"), System.getenv("TANDEM_MODEL_PATH"),
                "/work/shared/models"}) {
            if (dir != null && Files.isRegularFile(Path.of(dir, "stories260K.gguf"))) {
                return Path.of(dir, "stories260K.gguf");
            }
        }
        return Path.of("/work/main/../shared/models/stories260K.gguf");
    }

    @BeforeAll
    static void open() {
        engine = LlmEngine.builderForModel(stories(), EngineConfig.DEFAULT.withKvBlocks(512), 1).clock(CLOCK).driven()
                .build();
        gguf = GgufFile.open(stories());
        tokenizer = Tokenizer.fromGguf(gguf);
    }

    @AfterAll
    static void close() {
        engine.close();
        gguf.close();
    }

    private static RecordingSink generate(OutputConstraint c, float temperature, long seed, int maxTokens) {
        int[] prompt = tokenizer.encode("Once upon a time, there was a", true, false);
        SamplingParams p = SamplingParams.GREEDY.withTemperature(temperature).withSeed(seed);
        RecordingSink sink = new RecordingSink(CLOCK::nanoTime);
        engine.submit(new GenerateRequest("g" + seed, prompt, p, maxTokens, null, false, -1).withConstraint(c), sink);
        while (!sink.finished.isDone()) {
            engine.doWork();
        }
        return sink;
    }

    private static String text(RecordingSink sink) {
        return tokenizer.decode(sink.tokens.stream().mapToInt(t -> t.tokenId()).toArray());
    }

    @Test
    void generate_randomSchemas_everyOutputValidates() throws Exception {
        JsonSchemaFactory factory = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);
        for (long seed = 1; seed <= SCHEMAS; seed++) {
            String schemaText = RandomSchemas.schema(seed);
            JsonSchema schema = factory.getSchema(schemaText);
            for (float t : new float[] {0f, 1f}) {
                RecordingSink sink = generate(OutputConstraint.jsonSchema(schemaText), t, seed, 200);
                String out = text(sink);
                String where = "seed " + seed + ", temperature " + t + ", schema " + schemaText + ", output " + out;
                assertThat(sink.error).as(where).isNull();
                assertThat(sink.reason).as(where).isEqualTo(FinishReason.STOP);
                JsonNode value = MAPPER.readTree(out);
                Set<ValidationMessage> errors = schema.validate(value);
                assertThat(errors).as(where).isEmpty();
            }
        }
    }

    @Test
    void generate_smallBudget_stillFinishesTheValue() throws Exception {
        String schemaText = "{\"type\":\"object\",\"properties\":{\"story\":{\"type\":\"string\"},"
                + "\"n\":{\"type\":\"integer\"}},\"required\":[\"story\",\"n\"]}";
        for (long seed = 1; seed <= 5; seed++) {
            RecordingSink sink = generate(OutputConstraint.jsonSchema(schemaText), 1f, seed, 24);
            String out = text(sink);
            assertThat(sink.reason).as(out).isEqualTo(FinishReason.STOP);
            assertThat(MAPPER.readTree(out).get("n").isIntegralNumber()).as(out).isTrue();
        }
    }

    @Test
    void generate_jsonObjectMode_producesAnObject() throws Exception {
        RecordingSink sink = generate(OutputConstraint.jsonSchema(OutputConstraint.ANY_OBJECT_SCHEMA), 1f, 7, 100);
        assertThat(MAPPER.readTree(text(sink)).isObject()).as(text(sink)).isTrue();
    }

    @Test
    void generate_replayedTokens_continueWhereTheFirstLeftOff() throws Exception {
        String schemaText = RandomSchemas.schema(3);
        OutputConstraint c = OutputConstraint.jsonSchema(schemaText);
        RecordingSink whole = generate(c, 0f, 3, 200);
        int[] ids = whole.tokens.stream().mapToInt(t -> t.tokenId()).toArray();
        int half = ids.length / 2;
        int[] prompt = tokenizer.encode("Once upon a time, there was a", true, false);
        int[] resumed = Arrays.copyOf(prompt, prompt.length + half);
        System.arraycopy(ids, 0, resumed, prompt.length, half);
        RecordingSink sink = new RecordingSink(CLOCK::nanoTime);
        engine.submit(new GenerateRequest("r", prompt, SamplingParams.GREEDY, 200, null, false, -1).withConstraint(c)
                .continueWith("r2", resumed, 200 - half), sink);
        while (!sink.finished.isDone()) {
            engine.doWork();
        }
        int[] rest = sink.tokens.stream().mapToInt(t -> t.tokenId()).toArray();
        assertThat(rest).containsExactly(Arrays.copyOfRange(ids, half, ids.length));
    }

    @Test
    void submit_unsupportedKeyword_failsWithTheKeyword() {
        RecordingSink sink;
        try {
            sink = generate(OutputConstraint.jsonSchema("{\"type\":\"string\",\"format\":\"date\"}"), 0f, 1, 10);
            assertThat(sink.error).isNotNull();
            assertThat(sink.error.getMessage()).contains("'format'");
        } catch (dev.tandem.core.RequestException e) {
            assertThat(e.getMessage()).contains("'format'");
        }
    }
}
