package dev.tandem.frontend.text;

import dev.tandem.engine.tokenizer.ChatMessage;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.engine.gguf.GgufFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class TokenizerTextModelTest {
    private static GgufFile gguf;
    private static TokenizerTextModel text;

    @BeforeAll
    static void load() {
        gguf = GgufFile.open(Path.of(System.getProperty("tandem.test.models"), "stories260K.gguf"));
        text = TokenizerTextModel.fromGguf(gguf);
    }

    @AfterAll
    static void close() {
        gguf.close();
    }

    @Test
    void encodePrompt_startsWithBos_decodesBack() {
        int[] ids = text.encodePrompt("Once upon a time");

        assertThat(ids[0]).isEqualTo(text.tokenizer().bosId());
        TextModel.TokenDecoder d = text.newDecoder();
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i < ids.length; i++) {
            sb.append(d.next(ids[i]));
        }
        sb.append(d.finish());
        // a continuation keeps SentencePiece's leading space
        assertThat(sb.toString()).isEqualTo(" Once upon a time");
    }

    @Test
    void encodeChat_modelWithoutTemplate_usesTheDocumentedFallback() {
        int[] chat = text.encodeChat(List.of(new ChatMessage("user", "Once upon a time")));

        assertThat(text.template().name()).isEqualTo("plain (fallback)");
        assertThat(chat).isEqualTo(text.tokenizer().encode(
                text.template().render(List.of(new ChatMessage("user", "Once upon a time")), true), true, true));
        assertThat(chat[0]).isEqualTo(text.tokenizer().bosId());
    }

    @Test
    void encodeChat_qwenTemplate_controlTokensParsedAndAssistantTurnOpened() {
        try (GgufFile qwen = GgufFile.open(Path.of(System.getProperty("tandem.test.models"), "qwen2-vocab-tiny.gguf"))) {
            TokenizerTextModel q = TokenizerTextModel.fromGguf(qwen);
            int imStart = q.tokenizer().encode("<|im_start|>", false, true)[0];

            int[] ids = q.encodeChat(List.of(new ChatMessage("system", "Be brief."), new ChatMessage("user", "Hi")));

            assertThat(ids).contains(imStart);
            assertThat(java.util.Arrays.stream(ids).filter(id -> id == imStart).count()).isEqualTo(3);
            assertThat(new String(q.tokenizer().decodeBytes(ids, true), java.nio.charset.StandardCharsets.UTF_8)).endsWith("<|im_start|>assistant\n")
                    .contains("Be brief.").contains("Hi");
        }
    }

    @Test
    void tokenText_controlTokenByName_byteTokenEscaped() {
        assertThat(text.tokenText(text.tokenizer().eosId())).isEqualTo("</s>");
        assertThat(text.tokenBytes(text.tokenizer().eosId())).isEmpty();
        int[] euro = text.encodePrompt("😀");
        // stories260K has no '😀' piece: byte fallback splits it into four byte tokens
        assertThat(euro.length).isGreaterThanOrEqualTo(5);
        assertThat(text.tokenText(euro[euro.length - 1])).startsWith("bytes:\\x");
        TextModel.TokenDecoder d = text.newDecoder();
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i < euro.length; i++) {
            String piece = d.next(euro[i]);
            assertThat(piece).doesNotContain("\uFFFD");
            sb.append(piece);
        }
        assertThat(sb.toString().strip()).isEqualTo("😀");
        assertThat(new String(text.tokenBytes(euro[euro.length - 1]), StandardCharsets.ISO_8859_1)).hasSize(1);
    }
}
