package dev.tandem.frontend.text;

import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.tokenizer.ChatTemplate;
import dev.tandem.engine.tokenizer.StreamDecoder;
import dev.tandem.engine.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The text side of a GGUF model: its {@link Tokenizer} (llama.cpp-exact) and its
 * {@link ChatTemplate} (the model's own Jinja template, or the documented fallback).
 *
 * <p>Prompts are tokenised as llama.cpp's server does: with the model's BOS when it wants one,
 * and with control-token text ({@code <|im_start|>}) matched as control tokens in a completions
 * prompt and in a chat template's own text, but not inside chat messages' contents (a user's
 * {@code <|im_end|>} stays text; llama.cpp's server would parse it). Generated text is
 * decoded as a continuation of the prompt (the first token keeps its leading space).
 *
 * <p>Safe for concurrent use: the tokenizer is immutable and each choice gets its own decoder.
 */
public final class TokenizerTextModel implements TextModel {
    private final Tokenizer tokenizer;
    private final ChatTemplate template;
    private final ReplyMemory replies;

    public TokenizerTextModel(Tokenizer tokenizer, ChatTemplate template) {
        this(tokenizer, template, ReplyMemory.withDefaults());
    }

    /** With the given memory of generated replies (see {@link ReplyMemory}). */
    public TokenizerTextModel(Tokenizer tokenizer, ChatTemplate template, ReplyMemory replies) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.template = Objects.requireNonNull(template, "template");
        this.replies = Objects.requireNonNull(replies, "replies");
    }

    /** The model's tokenizer and chat template. */
    public static TokenizerTextModel fromGguf(GgufFile gguf) {
        Tokenizer tokenizer = Tokenizer.fromGguf(gguf);
        return new TokenizerTextModel(tokenizer, ChatTemplate.forModel(gguf, tokenizer));
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public ChatTemplate template() {
        return template;
    }

    /** The replies this model's decoders generated, by text. */
    public ReplyMemory replies() {
        return replies;
    }

    /**
     * The conversation through the model's template; an assistant message whose text is a reply
     * this model generated recently gets that reply's generated ids back (see {@link ReplyMemory}).
     */
    @Override
    public int[] encodeChat(List<ChatMessage> messages) {
        return template.encode(tokenizer, messages, true, replies::lookup);
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages, String toolsJson) {
        return template.encode(tokenizer, messages, toolsJson, true, replies::lookup);
    }

    @Override
    public String chatTemplateSource() {
        return template.source();
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

    /**
     * A decoder that, when its stream finishes, remembers the whole text and the ids it came from
     * (without trailing end-of-generation tokens, which the chat template writes itself).
     */
    @Override
    public TokenDecoder newDecoder() {
        StreamDecoder decoder = tokenizer.newStreamDecoder(true);
        return new TokenDecoder() {
            private final StringBuilder text = new StringBuilder();
            private int[] ids = new int[32];
            private int count;

            @Override
            public String next(int tokenId) {
                if (count == ids.length) {
                    ids = Arrays.copyOf(ids, count * 2);
                }
                ids[count++] = tokenId;
                String piece = decoder.next(tokenId);
                text.append(piece);
                return piece;
            }

            @Override
            public String finish() {
                String tail = decoder.finish();
                text.append(tail);
                int n = count;
                while (n > 0 && tokenizer.isEndOfGeneration(ids[n - 1])) {
                    n--;
                }
                replies.remember(text.toString(), Arrays.copyOf(ids, n));
                return tail;
            }
        };
    }

    @Override
    public int vocabSize() {
        return tokenizer.vocabSize();
    }
}
