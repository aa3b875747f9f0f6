package dev.tandem.engine.tokenizer;

import java.util.Arrays;

/**
 * Code point classes for the pre-tokenizers, defined exactly as llama.cpp defines them, so that
 * text splits into the same words.
 *
 * <h2>Design</h2>
 * llama.cpp classifies each code point by its Unicode general category (its table was generated
 * from UnicodeData.txt of Unicode 15.1): {@code Lu Ll Lt Lm Lo} are letters ({@code \p{L}}),
 * {@code Nd Nl No} numbers ({@code \p{N}}), {@code M*} marks, {@code P*} punctuation, {@code S*}
 * symbols, {@code Z*} separators, {@code Cc Cf Co Cs} control, and unassigned code points
 * ({@code Cn}) get a flag of their own ({@link #UNDEFINED}, never zero). Whitespace ({@code \s})
 * is not a category but the fixed Unicode {@code White_Space} list below.
 *
 * <p>Java's {@link Character#getType} gives the same categories, but the JDK 25 tables are
 * Unicode 16.0. The 47 ranges in {@link #ASSIGNED_IN_UNICODE_16} were assigned in 16.0; they are
 * treated as unassigned so that Tandem splits the way llama.cpp does. (They were found by
 * comparing every code point's category in JDK 25 with ICU 72, which is Unicode 15.0, and
 * removing the three 15.1 additions: U+2FFC..2FFF, U+31EF and CJK extension I,
 * U+2EBF0..2EE5D.) A later JDK with newer Unicode tables would classify its new characters,
 * where llama.cpp keeps them unassigned; {@code UnicodeFlagsTest} pins the known cases.
 *
 * <p>Java's regex classes are not used: {@code \s} is ASCII-only unless compiled with
 * {@code UNICODE_CHARACTER_CLASS}, and {@code \p{L}} follows the JDK's newer Unicode tables.
 *
 * <h2>Invariants</h2>
 * Every valid code point has a non-zero category flag; zero means "outside the text" to the
 * splitters. Flags of the BMP are cached in a 128 KiB table built once.
 *
 * <h2>Concurrency</h2>
 * Immutable; safe for concurrent use.
 *
 * <h2>References</h2>
 * llama.cpp {@code src/unicode.h} (flag bits), {@code scripts/gen-unicode-data.py} (category
 * mapping and whitespace list); Unicode PropList.txt ({@code White_Space}).
 */
final class UnicodeFlags {
    static final int UNDEFINED = 0x0001;
    static final int NUMBER = 0x0002;
    static final int LETTER = 0x0004;
    static final int SEPARATOR = 0x0008;
    static final int MARK = 0x0010;
    static final int PUNCTUATION = 0x0020;
    static final int SYMBOL = 0x0040;
    static final int CONTROL = 0x0080;
    static final int WHITESPACE = 0x0100;

    /** Inclusive [first, last] pairs of code points first assigned in Unicode 16.0. */
    private static final int[] ASSIGNED_IN_UNICODE_16 = {
            0x0897, 0x0897, 0x1B4E, 0x1B4F, 0x1B7F, 0x1B7F, 0x1C89, 0x1C8A,
            0x2427, 0x2429, 0x31E4, 0x31E5, 0xA7CB, 0xA7CD, 0xA7DA, 0xA7DC,
            0x105C0, 0x105F3, 0x10D40, 0x10D65, 0x10D69, 0x10D85, 0x10D8E, 0x10D8F,
            0x10EC2, 0x10EC4, 0x10EFC, 0x10EFC, 0x11380, 0x11389, 0x1138B, 0x1138B,
            0x1138E, 0x1138E, 0x11390, 0x113B5, 0x113B7, 0x113C0, 0x113C2, 0x113C2,
            0x113C5, 0x113C5, 0x113C7, 0x113CA, 0x113CC, 0x113D5, 0x113D7, 0x113D8,
            0x113E1, 0x113E2, 0x116D0, 0x116E3, 0x11BC0, 0x11BE1, 0x11BF0, 0x11BF9,
            0x11F5A, 0x11F5A, 0x13460, 0x143FA, 0x16100, 0x16139, 0x16D40, 0x16D79,
            0x18CFF, 0x18CFF, 0x1CC00, 0x1CCF9, 0x1CD00, 0x1CEB3, 0x1E5D0, 0x1E5FA,
            0x1E5FF, 0x1E5FF, 0x1F8B2, 0x1F8BB, 0x1F8C0, 0x1F8C1, 0x1FA89, 0x1FA89,
            0x1FA8F, 0x1FA8F, 0x1FABE, 0x1FABE, 0x1FAC6, 0x1FAC6, 0x1FADC, 0x1FADC,
            0x1FADF, 0x1FADF, 0x1FAE9, 0x1FAE9, 0x1FBCB, 0x1FBEF,
    };

    /** Flags of U+0000..U+FFFF. */
    private static final short[] BMP = new short[0x10000];

    static {
        for (int cp = 0; cp < BMP.length; cp++) {
            BMP[cp] = (short) compute(cp);
        }
    }

    private UnicodeFlags() {
    }

    /** The flags of {@code cp}; {@link #UNDEFINED} for unassigned and out-of-range values. */
    static int of(int cp) {
        if (cp >= 0 && cp < BMP.length) {
            return BMP[cp];
        }
        return compute(cp);
    }

    static boolean isLetter(int flags) {
        return (flags & LETTER) != 0;
    }

    static boolean isNumber(int flags) {
        return (flags & NUMBER) != 0;
    }

    static boolean isWhitespace(int flags) {
        return (flags & WHITESPACE) != 0;
    }

    private static int compute(int cp) {
        if (cp < 0 || cp > Character.MAX_CODE_POINT) {
            return UNDEFINED;
        }
        int flags = category(cp);
        if (whitespace(cp)) {
            flags |= WHITESPACE;
        }
        return flags;
    }

    private static int category(int cp) {
        int type = Character.getType(cp);
        if (type != Character.UNASSIGNED && assignedInUnicode16(cp)) {
            return UNDEFINED;
        }
        return switch (type) {
            case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                 Character.MODIFIER_LETTER, Character.OTHER_LETTER -> LETTER;
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.COMBINING_SPACING_MARK -> MARK;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            case Character.SPACE_SEPARATOR, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR -> SEPARATOR;
            case Character.CONTROL, Character.FORMAT, Character.PRIVATE_USE, Character.SURROGATE -> CONTROL;
            case Character.DASH_PUNCTUATION, Character.START_PUNCTUATION, Character.END_PUNCTUATION,
                 Character.CONNECTOR_PUNCTUATION, Character.OTHER_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION,
                 Character.FINAL_QUOTE_PUNCTUATION -> PUNCTUATION;
            case Character.MATH_SYMBOL, Character.CURRENCY_SYMBOL, Character.MODIFIER_SYMBOL,
                 Character.OTHER_SYMBOL -> SYMBOL;
            default -> UNDEFINED;
        };
    }

    private static boolean assignedInUnicode16(int cp) {
        if (cp < ASSIGNED_IN_UNICODE_16[0]) {
            return false;
        }
        // Binary search over the range starts (even indices).
        int lo = 0;
        int hi = ASSIGNED_IN_UNICODE_16.length / 2 - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            int first = ASSIGNED_IN_UNICODE_16[2 * mid];
            int last = ASSIGNED_IN_UNICODE_16[2 * mid + 1];
            if (cp < first) {
                hi = mid - 1;
            } else if (cp > last) {
                lo = mid + 1;
            } else {
                return true;
            }
        }
        return false;
    }

    /** Unicode White_Space: U+0009..000D, U+0020, U+0085, U+00A0, U+1680, U+2000..200A, U+2028/9, U+202F, U+205F, U+3000. */
    private static boolean whitespace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F
                || cp == 0x205F || cp == 0x3000;
    }

    /** For tests: the ranges as an unmodifiable copy. */
    static int[] assignedInUnicode16Ranges() {
        return Arrays.copyOf(ASSIGNED_IN_UNICODE_16, ASSIGNED_IN_UNICODE_16.length);
    }
}
