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

/** {@code tandem bench engine} for one sequence: the output's shape and its errors, not speed. */
class BenchEngineCommandTest {
    private static Path stories() {
        String prop = System.getProperty("tandem.test.models");
        Path dir = prop != null && Files.isDirectory(Path.of(prop)) ? Path.of(prop) : Path.of("/work/main/../shared/models");
        return dir.resolve("stories260K.gguf");
    }

    private record Result(int exit, String out, String err) {
    }

    private static Result run(String... args) {
        PrintStream stdout = System.out;
        PrintStream stderr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(progress, true, StandardCharsets.UTF_8));
            CommandLine cli = Main.newCommandLine();
            cli.setErr(new PrintWriter(err));
            int exit = cli.execute(args);
            return new Result(exit, out.toString(StandardCharsets.UTF_8),
                    err + progress.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(stdout);
            System.setErr(stderr);
        }
    }

    @Test
    void benchEngine_json_reportsMediansAndEveryRepetition() throws Exception {
        Result r = run("bench", "engine", "--model", stories().toString(), "--threads", "1", "--prompt-tokens", "32",
                "--gen-tokens", "8", "--reps", "3", "--warmup", "1", "--warmup-seconds", "0", "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        double prefill = j.get("prefill_tokens_per_second").asDouble();
        double decode = j.get("decode_tokens_per_second").asDouble();
        assertThat(prefill).isPositive();
        assertThat(decode).isPositive();
        JsonNode run = j.get("runs").get(0);
        assertThat(run.get("concurrency").asInt()).isEqualTo(1);
        assertThat(run.at("/prefill/samples")).hasSize(3);
        assertThat(run.at("/prefill/median").asDouble()).isEqualTo(prefill);
        assertThat(run.at("/decode/min").asDouble()).isLessThanOrEqualTo(decode);
        assertThat(run.at("/decode/max").asDouble()).isGreaterThanOrEqualTo(decode);
        assertThat(j.get("prompt_tokens").asInt()).isEqualTo(32);
        assertThat(j.get("weight_type").asText()).isEqualTo("F32");
        JsonNode kernels = j.get("kernel_choices").get(0);
        assertThat(kernels.get("type").asText()).isEqualTo("F32");
        assertThat(kernels.get("decode").asText()).isEqualTo("float"); // F32 has no integer dot
        assertThat(kernels.get("measured").asBoolean()).isFalse(); // stories260K is too small to time
        assertThat(r.err()).contains("rep 3/3");
    }

    @Test
    void benchEngine_bandwidth_reportsDecodeAsFractionOfMeasuredReadBandwidth() throws Exception {
        Result r = run("bench", "engine", "--model", stories().toString(), "--threads", "1", "--prompt-tokens", "8",
                "--gen-tokens", "4", "--reps", "1", "--warmup", "0", "--bandwidth-mib", "16", "--json");
        assertThat(r.exit()).as(r.err()).isZero();
        JsonNode j = new ObjectMapper().readTree(r.out());
        double bandwidth = j.get("read_bandwidth_bytes_per_second").asDouble();
        assertThat(bandwidth).isPositive();
        assertThat(j.at("/read_bandwidth/min").asDouble()).isLessThanOrEqualTo(bandwidth);
        assertThat(j.at("/read_bandwidth/buffer_bytes").isMissingNode()
                ? j.at("/read_bandwidth/bufferBytes").asLong() : j.at("/read_bandwidth/buffer_bytes").asLong())
                .isEqualTo(16L << 20);
        assertThat(j.get("decode_bandwidth_fraction").asDouble())
                .isCloseTo(j.get("decode_weight_bytes_per_second").asDouble() / bandwidth, org.assertj.core.api.Assertions.within(1e-9));
    }

    @Test
    void benchEngine_negativeBandwidthBuffer_oneClearError() {
        Result r = run("bench", "engine", "--model", stories().toString(), "--bandwidth-mib", "-1");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("--bandwidth-mib must be in [0, 16384], got -1");
    }

    @Test
    void benchEngine_table_printsPrefillAndDecodeLines() {
        Result r = run("bench", "engine", "--model", stories().toString(), "--threads", "2", "--prompt-tokens", "16",
                "--gen-tokens", "4", "--reps", "1", "--warmup", "0");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("prefill     16 tokens").contains("decode       4 tokens").contains("2 thread(s)");
    }

    @Test
    void benchEngine_promptLongerThanContext_oneClearError() {
        Result r = run("bench", "engine", "--model", stories().toString(), "--prompt-tokens", "4096");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("error: --prompt-tokens/--gen-tokens 4096 exceed the model's context length 2048");
    }

    @Test
    void benchEngine_zeroReps_oneClearError() {
        Result r = run("bench", "engine", "--model", stories().toString(), "--reps", "0");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("error: --prompt-tokens, --gen-tokens, --reps and --block-size must be positive");
    }
}
