package dev.tandem.frontend.text;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Turns a stream of token bytes into text without ever emitting half a UTF-8 character.
 *
 * <h2>Design</h2>
 * A token may end in the middle of a multi-byte character (byte-fallback tokens such as
 * {@code <0xE2>} each hold one byte). The JDK's decoder, fed with {@code endOfInput = false},
 * decodes every complete sequence and leaves a trailing incomplete one in the input buffer; we keep
 * those (at most 3) bytes for the next token. Bytes that can never start or continue a valid
 * sequence become U+FFFD at once, so a bad token cannot hold text back forever.
 * {@link #finish()} flushes what remains, an incomplete tail becoming U+FFFD.
 *
 * <h2>Concurrency</h2>
 * Not thread-safe: owned by the request thread that serves one choice.
 */
public final class Utf8StreamDecoder {
    private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPLACE)
            .onUnmappableCharacter(CodingErrorAction.REPLACE);
    /** Bytes of an incomplete character carried over to the next call; at most 3 used. */
    private final byte[] pending = new byte[4];
    private int pendingCount;

    /** Decodes {@code bytes} after what was held back and returns only whole characters. */
    public String push(byte[] bytes) {
        if (bytes.length == 0) {
            return "";
        }
        ByteBuffer in;
        if (pendingCount == 0) {
            in = ByteBuffer.wrap(bytes);
        } else {
            in = ByteBuffer.allocate(pendingCount + bytes.length);
            in.put(pending, 0, pendingCount).put(bytes).flip();
            pendingCount = 0;
        }
        String text = decode(in, false);
        while (in.hasRemaining()) {
            pending[pendingCount++] = in.get();
        }
        return text;
    }

    /** True when bytes of an incomplete character are held back. */
    public boolean hasPending() {
        return pendingCount > 0;
    }

    /** Ends the stream: an incomplete trailing character becomes U+FFFD. The decoder is reusable after. */
    public String finish() {
        ByteBuffer in = ByteBuffer.wrap(pending, 0, pendingCount);
        pendingCount = 0;
        String text = decode(in, true);
        decoder.reset();
        return text;
    }

    private String decode(ByteBuffer in, boolean endOfInput) {
        // Each input byte yields at most one char (a 4-byte sequence yields two chars), so this fits.
        CharBuffer out = CharBuffer.allocate(in.remaining() + 2);
        CoderResult result = decoder.decode(in, out, endOfInput);
        if (result.isOverflow()) {
            throw new IllegalStateException("UTF-8 output buffer overflow");
        }
        if (endOfInput) {
            decoder.flush(out);
        }
        return out.flip().toString();
    }
}
