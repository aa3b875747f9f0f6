package dev.tandem.frontend.text;

import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.tokenizer.StreamDecoder;
import dev.tandem.engine.tokenizer.Tokenizer;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

/**
 * The text side of a GGUF model: its {@link Tokenizer} (llama.cpp-exact) and a chat renderer.
 *
 * <p>Prompts are tokenised as llama.cpp's server does: with the model's BOS when it wants one,
 * and with control-token text ({@code <|im_start|>}) matched as control tokens. Generated text is
 * decoded as a continuation of the prompt (the first token keeps its leading space).
 *
 * <p>Safe for concurrent use: the tokenizer is immutable and each choice gets its own decoder.
 */
public final class TokenizerTextModel implements TextModel {
    private final Tokenizer tokenizer;
    private final Function<List<ChatMessage>, String> chatRenderer;

    /**
     * @param chatRenderer renders a conversation to prompt text, ending where the assistant's
     *                     reply begins
     */
    public TokenizerTextModel(Tokenizer tokenizer, Function<List<ChatMessage>, String> chatRenderer) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.chatRenderer = Objects.requireNonNull(chatRenderer, "chatRenderer");
    }

    /** The model's tokenizer, with {@link #plainChat} for conversations. */
    public static TokenizerTextModel fromGguf(GgufFile gguf) {
        return new TokenizerTextModel(Tokenizer.fromGguf(gguf), TokenizerTextModel::plainChat);
    }

    /**
     * For models without a chat template (story models such as stories260K): the turns' texts
     * joined by newlines, so a chat request is a plain continuation of what the user wrote.
     */
    public static String plainChat(List<ChatMessage> messages) {
        StringBuilder sb = new StringBuilder();
        for (ChatMessage m : messages) {
            if (!sb.isEmpty()) {
                sb.append('\n');
            }
            sb.append(m.content());
        }
        return sb.toString();
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages) {
        return tokenizer.encode(chatRenderer.apply(messages), true, true);
    }

    @Override
    public int[] encodePrompt(String text) {
        return tokenizer.encode(text, true, true);
    }

    @Override
    public byte[] tokenBytes(int tokenId) {
        if (tokenId < 0 || tokenId >= tokenizer.vocabSize()) {
            return new byte[0];
        }
        return tokenizer.piece(tokenId, false);
    }

    @Override
    public String tokenText(int tokenId) {
        byte[] bytes = tokenBytes(tokenId);
        if (bytes.length == 0 && tokenId >= 0 && tokenId < tokenizer.vocabSize()) {
            return tokenizer.tokenText(tokenId);
        }
        return TokenText.display(bytes);
    }

    @Override
    public TokenDecoder newDecoder() {
        StreamDecoder decoder = tokenizer.newStreamDecoder(true);
        return new TokenDecoder() {
            @Override
            public String next(int tokenId) {
                return decoder.next(tokenId);
            }

            @Override
            public String finish() {
                return decoder.finish();
            }
        };
    }

    @Override
    public int vocabSize() {
        return tokenizer.vocabSize();
    }
}
