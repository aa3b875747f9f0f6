package dev.tandem.engine.tokenizer;

/**
 * Turns a stream of bytes into text without ever returning half a UTF-8 character.
 *
 * <h2>Design</h2>
 * A token's bytes can end inside a multi-byte character (byte-fallback tokens such as
 * {@code <0xE2>}, byte-level BPE tokens that split an emoji), so bytes collect in a small buffer
 * and each call returns only the complete characters at its front, keeping an unfinished tail
 * (at most 3 bytes, {@link Utf8#incompleteTail}) for the next call. A tail that no byte could
 * complete (a stray continuation byte, {@code C0}, ...) is released at once and becomes U+FFFD,
 * so a bad token cannot hold text back; the replacement is {@link Utf8#decodeText}'s (once per
 * maximal invalid subpart), so text decoded in pieces equals the text decoded whole.
 * {@link #finish} releases everything held, an unfinished character becoming U+FFFD.
 *
 * <p>{@link StreamDecoder} writes token pieces straight into this buffer; a caller that has
 * bytes rather than token ids (a byte-level test model) uses {@link #push}.
 *
 * <h2>Invariants</h2>
 * Between calls the buffer holds only an incomplete tail; nothing is allocated per call except
 * the returned string (an empty result is the shared {@code ""}).
 *
 * <h2>Concurrency</h2>
 * Not thread-safe: owned by the one thread that handles the stream.
 */
public final class Utf8StreamDecoder {
    private final Bytes pending = new Bytes(64);
    private char[] chars = new char[64];

    /** Decodes {@code bytes} after what was held back and returns only whole characters. */
    public String push(byte[] bytes) {
        pending.add(bytes, 0, bytes.length);
        return takeComplete();
    }

    /** True when bytes of an incomplete character are held back. */
    public boolean hasPending() {
        return pending.size() > 0;
    }

    /** Ends the stream: an incomplete trailing character becomes U+FFFD. The decoder is reusable after. */
    public String finish() {
        return take(pending.size());
    }

    /** The buffer {@link StreamDecoder} appends token pieces to before {@link #takeComplete}. */
    Bytes buffer() {
        return pending;
    }

    /** Removes and returns the buffered complete characters, keeping an incomplete tail. */
    String takeComplete() {
        return take(pending.size() - Utf8.incompleteTail(pending.array(), 0, pending.size()));
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
