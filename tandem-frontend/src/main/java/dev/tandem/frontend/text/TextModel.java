package dev.tandem.frontend.text;

import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.engine.tokenizer.Utf8StreamDecoder;
import java.util.List;

/**
 * The model-facing half of preprocessing: chat template, tokenisation and the bytes each token
 * stands for. The frontend does all of this itself (so the router sees token blocks); this seam
 * is where a model's tokenizer plugs in.
 *
 * <p>Implementations are safe for concurrent use: every request thread calls them.
 */
public interface TextModel {

    /**
     * Renders a conversation with the model's chat template (ending where the assistant's reply
     * begins) and tokenises it, special-token text included.
     *
     * @throws dev.tandem.core.RequestException of kind INVALID when the template rejects the
     *         conversation (for example, roles that do not alternate)
     */
    int[] encodeChat(List<ChatMessage> messages);

    /**
     * {@link #encodeChat(List)} with the functions the model may call, as the template's
     * {@code tools} (OpenAI's tool objects as a JSON array text; null for none). A model whose
     * template cannot show tools ignores them.
     */
    default int[] encodeChat(List<ChatMessage> messages, String toolsJson) {
        return encodeChat(messages);
    }

    /** The chat template's text (tool-call formats are recognised from it); empty if there is none. */
    default String chatTemplateSource() {
        return "";
    }

    /** Tokenises a completion prompt, with the model's beginning-of-sequence token if it wants one. */
    int[] encodePrompt(String text);

    /**
     * The bytes token {@code tokenId} adds to the output text; empty for control tokens (BOS, EOS)
     * and for ids outside the vocabulary. A byte-fallback token may hold part of a UTF-8 character.
     */
    byte[] tokenBytes(int tokenId);

    /**
     * How logprobs show a token: its text when its bytes are whole UTF-8, otherwise
     * {@code "bytes:\\xe2\\x80"}-style escapes; the token's name (such as {@code "</s>"}) for control
     * tokens.
     */
    String tokenText(int tokenId);

    /**
     * A decoder for one choice's generated tokens: text continuing the prompt, never half a UTF-8
     * character. The default decodes {@link #tokenBytes} with {@link Utf8StreamDecoder}; a
     * tokenizer with its own rules (GPT-2's space clean-up) overrides it.
     */
    default TokenDecoder newDecoder() {
        Utf8StreamDecoder utf8 = new Utf8StreamDecoder();
        return new TokenDecoder() {
            @Override
            public String next(int tokenId) {
                return utf8.push(tokenBytes(tokenId));
            }

            @Override
            public String finish() {
                return utf8.finish();
            }
        };
    }

    /** Turns one stream of token ids into text. Owned by one request thread. */
    interface TokenDecoder {
        /** Adds a token; returns the text it completes (possibly empty). */
        String next(int tokenId);

        /** Ends the stream; returns what was held back (an unfinished character becomes U+FFFD). */
        String finish();
    }

    /** Number of token ids; valid ids are {@code [0, vocabSize())}. */
    int vocabSize();
}
