package dev.tandem.engine.tokenizer;

import dev.tandem.core.RequestException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Token ids back to bytes, as llama.cpp's {@code llama_detokenize} does.
 *
 * <h2>Design</h2>
 * Each token's piece is computed once at load time into one byte table: control, unknown and
 * user-defined tokens are their text; byte tokens ({@code <0xNN>}) their byte; normal tokens
 * their text with {@code ▁} turned back into spaces (SentencePiece) or mapped back through
 * GPT-2's byte alphabet (byte-level BPE; a character outside it becomes llama.cpp's
 * {@code [UNK_BYTE_0x..]} marker); unused and undefined tokens nothing. Decoding then:
 * <ol>
 *   <li>drops control and unknown tokens unless asked to render them (user-defined tokens are
 *       always rendered);</li>
 *   <li>removes one leading space from the first token's piece when the vocabulary adds a
 *       dummy space prefix (SentencePiece) — only the first token, even if it renders as
 *       nothing (a leading BOS therefore keeps the next token's space, as in llama.cpp);</li>
 *   <li>applies {@link SpaceCleanup} when the vocabulary asks for it (GPT-2).</li>
 * </ol>
 * {@link StreamDecoder} runs the same steps token by token.
 *
 * <h2>Invariants</h2>
 * {@code pieceStart} has one more entry than there are tokens and never decreases.
 *
 * <h2>Concurrency</h2>
 * Immutable; safe for concurrent use. Each {@link StreamDecoder} is owned by one request.
 *
 * <h2>References</h2>
 * llama.cpp {@code src/llama-vocab.cpp}: {@code token_to_piece}, {@code detokenize}.
 */
final class Detokenizer {
    private static final byte[] EMPTY = new byte[0];

    final byte[] pieceBytes;
    final int[] pieceStart;
    final int[] attrs;
    final boolean stripFirstSpace;
    final boolean cleanSpaces;

    private Detokenizer(byte[] pieceBytes, int[] pieceStart, int[] attrs, boolean stripFirstSpace, boolean cleanSpaces) {
        this.pieceBytes = pieceBytes;
        this.pieceStart = pieceStart;
        this.attrs = attrs;
        this.stripFirstSpace = stripFirstSpace;
        this.cleanSpaces = cleanSpaces;
    }

    /** Pieces of a SentencePiece vocabulary. */
    static Detokenizer sentencePiece(Vocabulary vocab) {
        return build(vocab, false, (id, out) -> {
            byte[] t = vocab.textBytes;
            int end = vocab.textStart[id + 1];
            for (int i = vocab.textStart[id]; i < end; i++) {
                // U+2581 '▁' is E2 96 81.
                if (i + 2 < end && t[i] == (byte) 0xE2 && t[i + 1] == (byte) 0x96 && t[i + 2] == (byte) 0x81) {
                    out.add((byte) ' ');
                    i += 2;
                } else {
                    out.add(t[i]);
                }
            }
        });
    }

    /** Pieces of a byte-level BPE vocabulary. */
    static Detokenizer byteLevel(Vocabulary vocab, boolean cleanSpaces) {
        return build(vocab, cleanSpaces, (id, out) -> {
            String text = vocab.texts[id];
            for (int i = 0; i < text.length(); ) {
                int cp = text.codePointAt(i);
                i += Character.charCount(cp);
                int b = ByteLevel.byteOf(cp);
                if (b >= 0) {
                    out.add((byte) b);
                } else {
                    appendUnknownByteMarker(cp, text, out);
                }
            }
        });
    }

    private interface NormalPiece {
        void append(int id, Bytes out);
    }

    private static Detokenizer build(Vocabulary vocab, boolean cleanSpaces, NormalPiece normal) {
        int n = vocab.size();
        Bytes bytes = new Bytes(vocab.textBytes.length + 16);
        int[] start = new int[n + 1];
        for (int id = 0; id < n; id++) {
            start[id] = bytes.size();
            int attr = vocab.attrs[id];
            if ((attr & (Vocabulary.ATTR_UNKNOWN | Vocabulary.ATTR_CONTROL | Vocabulary.ATTR_USER_DEFINED)) != 0) {
                bytes.add(vocab.textBytes, vocab.textStart[id], vocab.textLength(id));
            } else if ((attr & Vocabulary.ATTR_NORMAL) != 0) {
                normal.append(id, bytes);
            } else if ((attr & Vocabulary.ATTR_BYTE) != 0) {
                bytes.add(byteTokenValue(vocab.texts[id]));
            }
        }
        start[n] = bytes.size();
        return new Detokenizer(bytes.toArray(), start, vocab.attrs, vocab.addSpacePrefix, cleanSpaces);
    }

    /** The byte of a {@code <0xNN>} token (llama.cpp reads the two characters after "<0x"). */
    private static byte byteTokenValue(String text) {
        if (text.length() >= 5) {
            int hi = Character.digit(text.charAt(3), 16);
            int lo = Character.digit(text.charAt(4), 16);
            if (hi >= 0 && lo >= 0) {
                return (byte) (hi * 16 + lo);
            }
        }
        return 0;
    }

    private static void appendUnknownByteMarker(int cp, String text, Bytes out) {
        StringBuilder sb = new StringBuilder("[UNK_BYTE_0x");
        for (byte b : new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8)) {
            sb.append(String.format("%02x", b & 0xFF));
        }
        sb.append(text).append(']');
        byte[] marker = sb.toString().getBytes(StandardCharsets.UTF_8);
        out.add(marker, 0, marker.length);
    }

    int size() {
        return pieceStart.length - 1;
    }

    void checkId(int id) {
        if (id < 0 || id >= size()) {
            throw new RequestException(RequestException.Kind.INVALID,
                    "token id " + id + " is outside the vocabulary (0.." + (size() - 1) + ")");
        }
    }

    /** True if the token renders as nothing unless special tokens are rendered. */
    boolean hiddenUnlessSpecial(int id) {
        return (attrs[id] & (Vocabulary.ATTR_CONTROL | Vocabulary.ATTR_UNKNOWN)) != 0;
    }

    byte[] piece(int id, boolean renderSpecial) {
        checkId(id);
        if (!renderSpecial && hiddenUnlessSpecial(id)) {
            return EMPTY;
        }
        return Arrays.copyOfRange(pieceBytes, pieceStart[id], pieceStart[id + 1]);
    }

    byte[] decode(int[] ids, boolean renderSpecial) {
        for (int id : ids) {
            checkId(id);
        }
        Bytes out = new Bytes(ids.length * 4);
        SpaceCleanup cleanup = cleanSpaces ? new SpaceCleanup() : null;
        boolean strip = stripFirstSpace;
        for (int id : ids) {
            appendPiece(id, renderSpecial, strip, cleanup, out);
            strip = false;
        }
        if (cleanup != null) {
            cleanup.finish(out);
        }
        return out.toArray();
    }

    /** Appends one token's contribution: the piece, maybe without a leading space, maybe cleaned. */
    void appendPiece(int id, boolean renderSpecial, boolean stripSpace, SpaceCleanup cleanup, Bytes out) {
        if (!renderSpecial && hiddenUnlessSpecial(id)) {
            return;
        }
        int from = pieceStart[id];
        int to = pieceStart[id + 1];
        if (stripSpace && from < to && pieceBytes[from] == ' ') {
            from++;
        }
        if (cleanup != null) {
            cleanup.push(pieceBytes, from, to - from, out);
        } else {
            out.add(pieceBytes, from, to - from);
        }
    }
}
