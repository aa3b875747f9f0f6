package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class GenerateCommandTest {
    private static Path models() {
        String prop = System.getProperty("tandem.test.models");
        return prop != null && Files.isDirectory(Path.of(prop)) ? Path.of(prop) : Path.of("/work/main/../shared/models");
    }

    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine cli = Main.newCommandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    @Test
    void generate_json_greedyStoriesMatchesLlamaCpp() throws Exception {
        JsonNode ref = new ObjectMapper().readTree(models().resolve("../reference/llamacpp-stories260K.json").toFile());
        Run r = run("generate", "--model", models().resolve("stories260K.gguf").toString(), "--prompt", "Once upon a time",
                "--max-tokens", "64", "--json", "--threads", "1");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertThat(j.get("prompt_tokens")).isEqualTo(ref.at("/greedy/prompt_ids_with_bos"));
        assertThat(j.get("tokens")).isEqualTo(ref.at("/greedy/token_ids"));
        assertThat(j.get("text").asText()).isEqualTo(ref.at("/greedy/text").asText().stripLeading());
        assertThat(j.get("finish_reason").asText()).isEqualTo("length");
        assertThat(j.at("/timings/prefill_tokens_per_second").asDouble()).isPositive();
        assertThat(j.at("/timings/decode_tokens_per_second").asDouble()).isPositive();
        assertThat(j.at("/timings/decode_tokens").asInt()).isEqualTo(63);
    }

    @Test
    void generate_text_streamsTheContinuation() {
        Run r = run("generate", "--model", models().resolve("stories260K.gguf").toString(), "--prompt", "Once upon a time",
                "--max-tokens", "8", "--threads", "1");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).startsWith(", there was a little girl");
    }

    @Test
    void generate_sampledWithSeed_reproducible() throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        JsonNode a = mapper.readTree(run(sampled("5")).out()).get("tokens");
        JsonNode b = mapper.readTree(run(sampled("5")).out()).get("tokens");
        JsonNode c = mapper.readTree(run(sampled("6")).out()).get("tokens");
        assertThat(a).hasSize(20);
        assertThat(b).isEqualTo(a);
        assertThat(c).isNotEqualTo(a);
    }

    private static String[] sampled(String seed) {
        return new String[] {"generate", "--model", models().resolve("stories260K.gguf").toString(), "--prompt", "Lily",
            "--max-tokens", "20", "--temperature", "0.9", "--seed", seed, "--ignore-eos", "--json", "--threads", "1"};
    }

    @Test
    void generate_promptBeyondContext_oneClearError() {
        Run r = run("generate", "--model", models().resolve("stories260K.gguf").toString(), "--prompt", "Once",
                "--max-tokens", "5000", "--threads", "1");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).startsWith("error: ").contains("exceeds the context length of 2048").doesNotContain("Exception");
    }

    @Test
    void generate_emptyPrompt_oneClearError() {
        Run r = run("generate", "--model", models().resolve("stories260K.gguf").toString(), "--prompt", "");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).isEqualTo("error: the prompt is empty" + System.lineSeparator());
    }

    @Test
    void generate_unknownModel_oneClearError() {
        Run r = run("generate", "--model", "/nonexistent/model.gguf", "--prompt", "x");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).startsWith("error: model '/nonexistent/model.gguf' not found");
    }
}
