package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class BenchReplayCommandTest {

    record Run(int exitCode, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine cli = Main.newCommandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        return new Run(cli.execute(args), out.toString(), err.toString());
    }

    private static Path trace(Path dir) throws Exception {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            lines.add("{\"timestamp\": " + i * 100 + ", \"input_length\": 1500, \"output_length\": 3, \"hash_ids\": ["
                    + (i % 3) + ", " + (10 + i % 3) + ", " + (100 + i) + "]}");
        }
        Path f = dir.resolve("trace.jsonl");
        Files.write(f, lines);
        return f;
    }

    @Test
    void replay_jsonForTwoPolicies_flatFieldsPerPolicy(@TempDir Path dir) throws Exception {
        Run r = run("bench", "replay", "--trace", trace(dir).toString(), "--workers", "3", "--kv-tokens", "65536",
                "--policy", "kv,round-robin", "--json");
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode all = new ObjectMapper().readTree(r.out());
        assertThat(all.isArray()).isTrue();
        assertThat(all).hasSize(2);
        for (String field : List.of("hit_rate", "ideal_hit_rate", "ttft_mean_ms", "ttft_p99_ms", "e2e_mean_ms",
                "e2e_p99_ms", "max_over_mean_prompt_tokens")) {
            assertThat(all.get(0).get(field)).as(field).isNotNull();
            assertThat(all.get(0).get(field).isNumber()).as(field).isTrue();
        }
        assertThat(all.get(0).get("policy").asText()).isEqualTo("kv");
        assertThat(all.get(1).get("policy").asText()).isEqualTo("round-robin");
        // 30 requests of 3 blocks; the first of each of 3 prefixes misses: (30 - 3) * 2 / 90.
        assertThat(all.get(0).get("ideal_hit_rate").asDouble()).isEqualTo(0.6);
        assertThat(all.get(0).get("requests").asInt()).isEqualTo(30);
    }

    @Test
    void replay_unknownPolicy_isOneClearError(@TempDir Path dir) throws Exception {
        Run r = run("bench", "replay", "--trace", trace(dir).toString(), "--policy", "fastest");
        assertThat(r.exitCode()).isNotZero();
        assertThat(r.err()).contains("unknown router policy 'fastest'").doesNotContain("Exception");
    }
}
