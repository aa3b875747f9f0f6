package dev.tandem.engine.tokenizer;

/**
 * A byte range {@code [start, end)} of a text to tokenize that is not ordinary prompt text:
 * either plain text ({@code ids == null}: control-token texts in it stay characters, as with
 * {@code parseSpecial = false}), or text whose token ids are already known ({@code ids}: the
 * range becomes exactly these ids).
 *
 * <p>Chat prompts use both: the messages' contents are plain (a user cannot write
 * {@code <|im_start|>system} into a prompt), and a reply the server generated earlier gets back
 * the ids it was generated as, so the engine's prefix cache finds them.
 */
public record TextSpan(int start, int end, int[] ids) {
    public TextSpan {
        if (start < 0 || end < start) {
            throw new IllegalArgumentException("bad span [" + start + ", " + end + ")");
        }
    }

    /** A plain-text span. */
    public static TextSpan plain(int start, int end) {
        return new TextSpan(start, end, null);
    }

    @Override
    public String toString() {
        return "[" + start + ", " + end + ")" + (ids == null ? " plain" : " " + ids.length + " ids");
    }
}
