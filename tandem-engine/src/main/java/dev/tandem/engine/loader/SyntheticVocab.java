package dev.tandem.engine.loader;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A generated SentencePiece-style vocabulary (GGUF {@code tokenizer.ggml.model = "llama"}) of
 * any size from 300 tokens up, laid out as Llama 2's:
 *
 * <pre>
 * id 0      &lt;unk&gt;      UNKNOWN (2)
 * id 1      &lt;s&gt;        CONTROL (3)   BOS
 * id 2      &lt;/s&gt;       CONTROL (3)   EOS
 * id 3..258 &lt;0x00&gt;..&lt;0xFF&gt;  BYTE (6)   byte fallback
 * id 259..  pieces     NORMAL (1)    score -1, -2, ... (earlier pieces merge first)
 * </pre>
 *
 * Pieces come in rounds of growing length over lower-case letters (most frequent English
 * letters first), each round without and then with the word-start marker U+2581, after the
 * single characters (letters, digits, punctuation). Every piece's prefixes are themselves
 * pieces, so SentencePiece's bigram merging can reach each one, and text in any script still
 * tokenises through the byte tokens.
 */
public final class SyntheticVocab {
    /** GGUF token types ({@code tokenizer.ggml.token_type}). */
    public static final int NORMAL = 1;
    public static final int UNKNOWN = 2;
    public static final int CONTROL = 3;
    public static final int BYTE = 6;

    public static final int UNK_ID = 0;
    public static final int BOS_ID = 1;
    public static final int EOS_ID = 2;
    public static final int FIRST_BYTE_ID = 3;
    public static final int FIRST_PIECE_ID = FIRST_BYTE_ID + 256;
    /** A vocabulary needs the specials, the bytes and at least a few pieces. */
    public static final int MIN_SIZE = FIRST_PIECE_ID + 41;

    static final String WORD_START = "\u2581";
    private static final String LETTERS = "etaoinshrdlcumwfgypbvkjxqz";
    private static final String SINGLES = LETTERS + LETTERS.toUpperCase() + "0123456789.,!?'\"-:;()";

    private final String[] tokens;
    private final float[] scores;
    private final int[] types;

    private SyntheticVocab(String[] tokens, float[] scores, int[] types) {
        this.tokens = tokens;
        this.scores = scores;
        this.types = types;
    }

    public static SyntheticVocab generate(int size) {
        if (size < MIN_SIZE) {
            throw new IllegalArgumentException("a synthetic vocabulary needs at least " + MIN_SIZE + " tokens, got " + size);
        }
        String[] tokens = new String[size];
        float[] scores = new float[size];
        int[] types = new int[size];
        tokens[UNK_ID] = "<unk>";
        types[UNK_ID] = UNKNOWN;
        tokens[BOS_ID] = "<s>";
        types[BOS_ID] = CONTROL;
        tokens[EOS_ID] = "</s>";
        types[EOS_ID] = CONTROL;
        for (int b = 0; b < 256; b++) {
            tokens[FIRST_BYTE_ID + b] = String.format("<0x%02X>", b);
            types[FIRST_BYTE_ID + b] = BYTE;
        }
        Set<String> pieces = pieces(size - FIRST_PIECE_ID);
        int id = FIRST_PIECE_ID;
        for (String piece : pieces) {
            tokens[id] = piece;
            scores[id] = -(id - FIRST_PIECE_ID + 1);
            types[id] = NORMAL;
            id++;
        }
        return new SyntheticVocab(tokens, scores, types);
    }

    private static Set<String> pieces(int count) {
        Set<String> out = new LinkedHashSet<>();
        out.add(WORD_START);
        for (int i = 0; i < SINGLES.length() && out.size() < count; i++) {
            out.add(String.valueOf(SINGLES.charAt(i)));
        }
        for (int i = 0; i < SINGLES.length() && out.size() < count; i++) {
            out.add(WORD_START + SINGLES.charAt(i));
        }
        List<String> previous = new ArrayList<>();
        for (char c : LETTERS.toCharArray()) {
            previous.add(String.valueOf(c));
        }
        while (out.size() < count) {
            List<String> longer = new ArrayList<>(previous.size() * LETTERS.length());
            for (String p : previous) {
                for (char c : LETTERS.toCharArray()) {
                    longer.add(p + c);
                }
            }
            for (int i = 0; i < longer.size() && out.size() < count; i++) {
                out.add(longer.get(i));
            }
            for (int i = 0; i < longer.size() && out.size() < count; i++) {
                out.add(WORD_START + longer.get(i));
            }
            previous = longer;
        }
        return out;
    }

    public int size() {
        return tokens.length;
    }

    public String[] tokens() {
        return tokens.clone();
    }

    public float[] scores() {
        return scores.clone();
    }

    public int[] types() {
        return types.clone();
    }
}
