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
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * {@code tandem bench compare} starting a real {@code tandem serve} JVM (stories260K) for naive
 * disaggregation (1 prefill + 1 decode worker, every prompt prefilled remotely), with the
 * server's own disaggregation counters read back into the report.
 */
@Timeout(240)
class CompareBenchEndToEndTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static Path modelFile() {
        String prop = System.getProperty("tandem.test.models");
        Path dir = prop != null && Files.isDirectory(Path.of(prop)) ? Path.of(prop) : Path.of("/work/main/../shared/models");
        return dir.resolve("stories260K.gguf");
    }

    @Test
    void compare_naiveDisaggregation_everyPromptPulledAndTransferClaimMeasured(@TempDir Path dir)
            throws Exception {
        CommandLine cli = Main.newCommandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute("bench", "compare", "--model", modelFile().toString(), "--configs", "disagg-rr",
                "--conversations", "2", "--turns", "2", "--user-words", "8", "--max-tokens", "4", "--ignore-eos",
                "--warmup-requests", "1", "--serve-arg=--threads", "--serve-arg=1", "--serve-arg=--kv-blocks",
                "--serve-arg=256", "--server-java-opt=-Xmx256m", "--ready-timeout-s", "120", "--json", "--quiet",
                "--out", dir.toString());
        assertThat(exit).as(err.toString()).isZero();

        JsonNode report = JSON.readTree(out.toString());
        assertThat(report.path("simulated").asBoolean()).isFalse();
        assertThat(report.path("command").asText()).startsWith("tandem bench compare --model");
        assertThat(report.path("machine").path("cpu").asText()).isNotBlank();
        List<String> labels = new ArrayList<>();
        report.path("runs").forEach(r -> {
            labels.add(r.path("label").asText());
            assertThat(r.path("succeeded").asInt()).as(r.toString()).isEqualTo(4);
            assertThat(r.path("output_tokens").asInt()).isEqualTo(16);
        });
        assertThat(labels).containsExactly("1P+1D naive");
        assertThat(report.path("runs").path(0).path("description").asText())
                .endsWith("--prefill-workers 1 --decode-workers 1 --router round-robin --enforce-disagg");
        List<String> notes = new ArrayList<>();
        report.path("notes").forEach(n -> notes.add(n.asText()));
        // the warm-up request went to the server before its counters were first read
        assertThat(notes).anySatisfy(n -> assertThat(n).startsWith(
                "1P+1D naive: 4 prompts prefilled on a prefill worker, 0 by the decode worker; 4 KV pulls, "));
        JsonNode transfer = report.path("claims").path(1);
        assertThat(transfer.path("topic").asText()).isEqualTo("KV transfer overhead");
        assertThat(transfer.path("measured").asText()).matches("[0-9.]+% \\(1P\\+1D naive, 4 of 4 prompts remote\\)");
        assertThat(dir.resolve("report.md")).content().contains("## Claims next to measurements", "1P+1D naive");
        assertThat(dir.resolve("logs/disagg-rr.log")).content().contains("1 prefill + 1 decode");
    }
}
