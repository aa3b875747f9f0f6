package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The serving runs of {@code tandem bench engine}: shape of the output, not speed. */
class BenchEngineServingTest {
    private static Path stories() {
        String prop = System.getProperty("tandem.test.models");
        Path dir = prop != null && Files.isDirectory(Path.of(prop)) ? Path.of(prop) : Path.of("/work/main/../shared/models");
        return dir.resolve("stories260K.gguf");
    }

    @Test
    void benchEngine_concurrencyAndSharedPrefix_jsonListsRunsAndPrefixTtft() throws Exception {
        PrintStream stdout = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        int exit;
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            CommandLine cli = Main.newCommandLine();
            cli.setErr(new PrintWriter(err));
            exit = cli.execute("bench", "engine", "--model", stories().toString(), "--threads", "1", "--prompt-tokens", "48",
                    "--gen-tokens", "8", "--reps", "1", "--warmup", "0", "--concurrency", "1,3", "--shared-prefix-tokens", "40",
                    "--json");
        } finally {
            System.setOut(stdout);
        }
        assertThat(exit).as(err.toString()).isZero();
        JsonNode j = new ObjectMapper().readTree(captured.toString(StandardCharsets.UTF_8));
        JsonNode runs = j.get("runs");
        assertThat(runs).hasSize(2);
        assertThat(runs.get(0).get("concurrency").asInt()).isEqualTo(1);
        assertThat(runs.get(1).get("concurrency").asInt()).isEqualTo(3);
        for (JsonNode r : runs) {
            assertThat(r.get("decode_tokens_per_second").asDouble()).isPositive();
            assertThat(r.get("prefill_tokens_per_second").asDouble()).isPositive();
            assertThat(r.get("ttft_ms").asDouble()).isPositive();
        }
        assertThat(j.at("/prefix_cache/cached_tokens").asInt()).isEqualTo(32);
        assertThat(j.get("ttft_uncached_ms").asDouble()).isPositive();
        assertThat(j.get("ttft_cached_prefix_ms").asDouble()).isPositive();
    }

    @Test
    void benchEngine_sharedPrefixNotShorterThanPrompt_oneClearError() {
        CommandLine cli = Main.newCommandLine();
        StringWriter err = new StringWriter();
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute("bench", "engine", "--model", stories().toString(), "--prompt-tokens", "16",
                "--shared-prefix-tokens", "16");
        assertThat(exit).isEqualTo(1);
        assertThat(err.toString()).startsWith("error: --shared-prefix-tokens must be in [0, --prompt-tokens)");
    }
}
