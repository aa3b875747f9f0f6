package dev.tandem.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.tokenizer.Tokenizer;
import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code tandem tokenize}: the token ids and pieces of a text under a model's tokenizer.
 *
 * <p>By default the text is plain text, as llama.cpp's {@code llama_tokenize(parse_special =
 * false)}: control-token texts such as {@code <|im_start|>} or {@code </s>} are tokenized as
 * ordinary characters (user-defined tokens such as {@code <tool_call>} are still matched, as in
 * llama.cpp), and BOS (and EOS) are added where the model says so
 * ({@code tokenizer.ggml.add_bos_token}, or the tokenizer type's default). {@code --parse-special}
 * makes control-token texts their tokens (how the server reads a {@code /v1/completions} prompt
 * and a chat template's own text); {@code --no-special} adds no BOS/EOS. Pieces are the
 * vocabulary's token texts ({@code ▁Once}, {@code Ġworld}, {@code <0x0A>}).
 */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = "Print the token ids and pieces of a text under a model's tokenizer.")
final class TokenizeCommand implements Runnable {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", paramLabel = "MODEL",
            description = "a .gguf file, a Hugging Face directory or a model name (default: stories260K)")
    Path model;

    @Option(names = "--text", required = true, paramLabel = "TEXT", description = "the text to tokenize")
    String text;

    @Option(names = "--json", description = "print one JSON object {\"ids\": [...], \"pieces\": [...]}")
    boolean json;

    @Option(names = "--no-special", description = "add no BOS/EOS")
    boolean noSpecial;

    @Option(names = "--parse-special", description = "control-token texts (<|im_start|>, </s>) become their tokens,"
            + " as in a completions prompt; by default they are plain characters")
    boolean parseSpecial;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        try (GgufFile gguf = GgufFile.open(ModelPaths.resolve(model == null ? null : model.toString()))) {
            Tokenizer tokenizer = Tokenizer.fromGguf(gguf);
            int[] ids = tokenizer.encode(text, !noSpecial, parseSpecial);
            if (json) {
                ObjectMapper mapper = new ObjectMapper();
                ObjectNode node = mapper.createObjectNode();
                ArrayNode idArray = node.putArray("ids");
                ArrayNode pieceArray = node.putArray("pieces");
                for (int id : ids) {
                    idArray.add(id);
                    pieceArray.add(tokenizer.tokenText(id));
                }
                out.println(node);
            } else {
                for (int id : ids) {
                    out.printf("%8d  %s%n", id, printable(tokenizer.tokenText(id)));
                }
            }
            out.flush();
        }
    }

    /** A token text with control characters shown as escapes, so each token stays on its line. */
    static String printable(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> {
            switch (cp) {
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\\' -> sb.append("\\\\");
                default -> {
                    if (Character.isISOControl(cp)) {
                        sb.append(String.format("\\u%04x", cp));
                    } else {
                        sb.appendCodePoint(cp);
                    }
                }
            }
        });
        return sb.toString();
    }
}
