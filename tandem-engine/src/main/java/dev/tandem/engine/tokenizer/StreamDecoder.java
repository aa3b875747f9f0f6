package dev.tandem.engine.tokenizer;

/**
 * Turns a stream of generated token ids into text, one token at a time, for one request.
 *
 * <h2>Design</h2>
 * A token's piece can end inside a UTF-8 character (byte-fallback tokens such as
 * {@code <0xE2>}, byte-level BPE tokens that split an emoji), so decoded bytes collect in a
 * small buffer and {@link #next} returns only the complete characters at its front, keeping an
 * unfinished tail (at most 3 bytes) for the next token. A tail that no byte could complete
 * (a stray continuation byte, {@code C0}, ...) is released at once and becomes U+FFFD, as in
 * full decoding ({@link Utf8#decodeText} defines the replacement). When the vocabulary cleans up spaces (GPT-2), the {@link SpaceCleanup} filter
 * may also hold back up to a few ASCII characters until the next token shows whether a space
 * stays. {@link #finish} releases everything held.
 *
 * <p>The concatenation of every {@link #next} result and {@link #finish} equals
 * {@link Tokenizer#decode} of all the ids when the decoder starts a text
 * ({@code continuesPrompt = false}): SentencePiece's dummy leading space is then removed from
 * the first token, as full decoding does. For generated text that continues a prompt, pass
 * {@code continuesPrompt = true}: the first token keeps its leading space (" there" after
 * "Once upon a time"), which is what a client appending the text to its prompt needs.
 *
 * <h2>Invariants</h2>
 * The buffer never holds more than the held tail plus one piece; nothing is allocated per token
 * except the returned string (an empty result is the shared {@code ""}).
 *
 * <h2>Concurrency</h2>
 * Not thread-safe: owned by the one thread that handles the request's tokens.
 */
public final class StreamDecoder {
    private final Detokenizer detokenizer;
    private final boolean renderSpecial;
    private final SpaceCleanup cleanup;
    private final Bytes pending = new Bytes(64);
    private char[] chars = new char[64];
    private boolean stripSpace;

    StreamDecoder(Detokenizer detokenizer, boolean continuesPrompt, boolean renderSpecial) {
        this.detokenizer = detokenizer;
        this.renderSpecial = renderSpecial;
        this.cleanup = detokenizer.cleanSpaces ? new SpaceCleanup() : null;
        this.stripSpace = detokenizer.stripFirstSpace && !continuesPrompt;
    }

    /**
     * Adds one token and returns the text it completes: possibly empty, possibly including
     * characters held back from earlier tokens.
     *
     * @throws dev.tandem.core.RequestException if the id is outside the vocabulary
     */
    public String next(int tokenId) {
        detokenizer.checkId(tokenId);
        detokenizer.appendPiece(tokenId, renderSpecial, stripSpace, cleanup, pending);
        stripSpace = false;
        int ready = pending.size() - Utf8.incompleteTail(pending.array(), 0, pending.size());
        return take(ready);
    }

    /** Ends the stream: returns everything still held (an unfinished character becomes U+FFFD). */
    public String finish() {
        if (cleanup != null) {
            cleanup.finish(pending);
        }
        return take(pending.size());
    }

    private String take(int n) {
        if (n == 0) {
            return "";
        }
        if (chars.length < n) {
            chars = new char[Math.max(n, chars.length * 2)];
        }
        String text = pending.text(n, chars);
        pending.dropFirst(n);
        return text;
    }
}
