package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufFile;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class ModelCommandTest {
    @TempDir
    Path dir;

    private record Run(int exitCode, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine cli = Main.newCommandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void synth_tinyQ4_0_writesFileAndReportsProgress() {
        Path file = dir.resolve("tiny.gguf");
        Run r = run("model", "synth", "--shape", "tiny", "--type", "q4_0", "--out", file.toString(), "--seed", "3");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out().strip()).isEqualTo(file.toString());
        assertThat(r.err()).contains("synth tiny Q4_0:").contains("(100%)").contains("done");
        try (GgufFile g = GgufFile.open(file)) {
            assertThat(g.tensor("blk.0.ffn_up.weight").type()).isEqualTo(GgmlType.Q4_0);
            assertThat(g.integer("tandem.synthetic.seed")).isEqualTo(3);
        }
    }

    @Test
    void synthHelp_listsShapes() {
        Run r = run("model", "synth", "--help");
        assertThat(r.exitCode()).isZero();
        assertThat(r.out()).contains("stories15m", "tinyllama-1.1b", "llama-3.2-1b", "qwen2.5-0.5b", "--seed");
    }

    @Test
    void synth_unknownShapeOrType_oneClearError() {
        Run shape = run("model", "synth", "--shape", "gpt-5", "--out", dir.resolve("x.gguf").toString());
        assertThat(shape.exitCode()).isEqualTo(1);
        assertThat(shape.err().strip()).startsWith("error: unknown shape gpt-5 (known: tiny, stories15m");
        Run type = run("model", "synth", "--shape", "tiny", "--type", "q5_k", "--out", dir.resolve("x.gguf").toString());
        assertThat(type.err().strip()).isEqualTo("error: unknown type q5_k (q8_0, q4_0, q4_k, q6_k, f16, bf16, f32)");
        assertThat(dir.resolve("x.gguf")).doesNotExist();
    }

    @Test
    void inspect_syntheticModel_summaryThenTensorList() {
        Path file = dir.resolve("tiny.gguf");
        assertThat(run("model", "synth", "--shape", "tiny", "--out", file.toString()).exitCode()).isZero();
        Run r = run("model", "inspect", file.toString(), "--tensors");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.out()).contains("architecture:  llama (synthetic tiny)")
                .contains("layers:        2")
                .contains("heads:         4 query, 2 key/value (grouped, 2 per kv head), head dim 16")
                .contains("context:       512 tokens")
                .contains("rope:          base 10000, 16 dims (all)")
                .contains("vocab:         512 tokens, tokenizer llama, bos 1 <s>, eos 2 </s>, add_bos true")
                .contains("tensors:       21, Q8_0 x16")
                .contains("file type:     mostly Q8_0")
                .contains("blk.1.ffn_down.weight");
        int summaryEnd = r.out().indexOf("tensors (21):");
        assertThat(summaryEnd).isGreaterThan(r.out().indexOf("file type:"));
    }

    @Test
    void inspect_missingFile_oneClearError() {
        Run r = run("model", "inspect", dir.resolve("absent.gguf").toString());
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err().strip()).isEqualTo("error: model '" + dir.resolve("absent.gguf") + "' not found: no such file or directory");
    }

    @Test
    void inspect_truncatedOrForeignFile_oneClearError() throws IOException {
        Path file = dir.resolve("tiny.gguf");
        assertThat(run("model", "synth", "--shape", "tiny", "--out", file.toString()).exitCode()).isZero();
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(bytes, bytes.length / 2));
        Run truncated = run("model", "inspect", file.toString());
        assertThat(truncated.exitCode()).isEqualTo(1);
        assertThat(truncated.err()).startsWith("error: " + file + " is truncated").doesNotContain("Exception");
        Files.writeString(file, "not a model");
        Run foreign = run("model", "inspect", file.toString());
        assertThat(foreign.err()).startsWith("error: " + file + " is not a GGUF file");
    }
}
