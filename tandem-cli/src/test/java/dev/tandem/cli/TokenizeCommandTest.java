package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class TokenizeCommandTest {

    record Run(int exitCode, String out, String err) {
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

    private static Path model(String file) {
        for (String dir : new String[] {System.getProperty("tandem.test.models"), System.getenv("TANDEM_MODEL_PATH")}) {
            if (dir != null && Files.isDirectory(Path.of(dir))) {
                return Path.of(dir, file);
            }
        }
        return Path.of("/work/main/../shared/models", file);
    }

    @Test
    void tokenize_json_bosThenLlamaCppIdsAndPieces() throws Exception {
        Run r = run("tokenize", "--model", model("stories260K.gguf").toString(), "--text", "Once upon a time", "--json");
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode node = new ObjectMapper().readTree(r.out());
        assertThat(node.get("ids").toString()).isEqualTo("[1,403,407,261,378]");
        assertThat(node.get("pieces").toString()).isEqualTo("[\"<s>\",\"▁Once\",\"▁upon\",\"▁a\",\"▁time\"]");
    }

    @Test
    void tokenize_default_controlTextsStayTextAsLlamaCppTokenize() throws Exception {
        Run r = run("tokenize", "--model", model("qwen2-vocab-tiny.gguf").toString(), "--text", "<|im_start|>user",
                "--json");
        assertThat(new ObjectMapper().readTree(r.out()).get("ids").toString()).isEqualTo("[27,91,318,4906,91,29,872]");
        // llama.cpp (parse_special = false): '</s>' is ' </', 's', '>' and never Qwen's EOG token 128247
        Run pad = run("tokenize", "--model", model("qwen2-vocab-tiny.gguf").toString(), "--text",
                "[PAD151700] <s> </s> <unk>", "--json");
        assertThat(new ObjectMapper().readTree(pad.out()).get("ids").toString())
                .isEqualTo("[42347,1808,16,20,16,22,15,15,60,366,82,29,690,82,29,366,3122,29]");
    }

    @Test
    void tokenize_parseSpecial_controlTextsBecomeTheirTokens() throws Exception {
        Run special = run("tokenize", "--model", model("qwen2-vocab-tiny.gguf").toString(), "--text", "<|im_start|>user",
                "--json", "--parse-special");
        assertThat(new ObjectMapper().readTree(special.out()).get("ids").toString()).isEqualTo("[151644,872]");
    }

    @Test
    void tokenize_plainOutput_oneLinePerTokenWithEscapes() {
        Run r = run("tokenize", "--model", model("stories260K.gguf").toString(), "--text", "Hi\n", "--no-special");
        assertThat(r.exitCode()).isZero();
        assertThat(r.out().lines().toList()).hasSizeGreaterThanOrEqualTo(2).last().asString().endsWith("<0x0A>");
        assertThat(TokenizeCommand.printable("a\nb\u0001")).isEqualTo("a\\nb\\u0001");
    }

    @Test
    void tokenize_notAGgufFile_oneClearErrorNoStackTrace(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("x.gguf"), "this is not a model, just text long enough");
        Run r = run("tokenize", "--model", file.toString(), "--text", "hi");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).startsWith("error: ").contains("is not a GGUF file").doesNotContain("\tat ");
    }

    @Test
    void tokenize_missingText_usageError() {
        Run r = run("tokenize", "--model", model("stories260K.gguf").toString());
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("--text");
    }
}
