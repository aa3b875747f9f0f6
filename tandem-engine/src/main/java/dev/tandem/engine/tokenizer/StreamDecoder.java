package dev.tandem.engine.tokenizer;

/**
 * Turns a stream of generated token ids into text, one token at a time, for one request.
 *
 * <h2>Design</h2>
 * A token's piece can end inside a UTF-8 character, so pieces go into a
 * {@link Utf8StreamDecoder}, which returns only complete characters and holds an unfinished tail
 * (at most 3 bytes) for the next token. When the vocabulary cleans up spaces (GPT-2), the
 * {@link SpaceCleanup} filter
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
    private final Utf8StreamDecoder utf8 = new Utf8StreamDecoder();
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
        detokenizer.appendPiece(tokenId, renderSpecial, stripSpace, cleanup, utf8.buffer());
        stripSpace = false;
        return utf8.takeComplete();
    }

    /** Ends the stream: returns everything still held (an unfinished character becomes U+FFFD). */
    public String finish() {
        if (cleanup != null) {
            cleanup.finish(utf8.buffer());
        }
        return utf8.finish();
    }
}
