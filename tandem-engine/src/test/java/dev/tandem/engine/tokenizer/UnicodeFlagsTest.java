package dev.tandem.engine.tokenizer;

import static dev.tandem.engine.tokenizer.UnicodeFlags.CONTROL;
import static dev.tandem.engine.tokenizer.UnicodeFlags.LETTER;
import static dev.tandem.engine.tokenizer.UnicodeFlags.MARK;
import static dev.tandem.engine.tokenizer.UnicodeFlags.NUMBER;
import static dev.tandem.engine.tokenizer.UnicodeFlags.PUNCTUATION;
import static dev.tandem.engine.tokenizer.UnicodeFlags.SEPARATOR;
import static dev.tandem.engine.tokenizer.UnicodeFlags.SYMBOL;
import static dev.tandem.engine.tokenizer.UnicodeFlags.UNDEFINED;
import static dev.tandem.engine.tokenizer.UnicodeFlags.WHITESPACE;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Pins llama.cpp's classes (its generated unicode-data.cpp, Unicode 15.1) for telling code points. */
class UnicodeFlagsTest {

    @ParameterizedTest(name = "U+{0}")
    @CsvSource({
        "0041, 4", "00E9, 4", "4E00, 4", "02B0, 4",   // letters, including a modifier letter (Lm)
        "0030, 2", "00B2, 2", "2460, 2", "0663, 2",   // Nd, No (superscript, circled), Arabic-Indic
        "0020, 264", "00A0, 264", "3000, 264", "2028, 264", "1680, 264", // Z* and whitespace
        "0009, 384", "000A, 384", "000D, 384", "0085, 384", // controls that are whitespace
        "001C, 128", "0000, 128", "007F, 128", "200D, 128", "FEFF, 128", "E000, 128", "D800, 128",
        "0301, 16", "0021, 32", "2019, 32", "0024, 64", "00AC, 64", "1F600, 64",
        "0378, 1", "10FFFF, 1",                        // unassigned
        "2EBF0, 4", "31EF, 64",                        // Unicode 15.1 additions: assigned in llama.cpp
        "1C89, 1", "1FA89, 1", "13460, 1", "10D40, 1", // Unicode 16.0 additions: unassigned in llama.cpp
    })
    void of_codePoint_llamaCppFlags(String hex, int expected) {
        assertThat(UnicodeFlags.of(Integer.parseInt(hex, 16))).isEqualTo(expected);
    }

    @Test
    void of_everyCodePoint_exactlyOneCategoryAndNeverZero() {
        int categories = UNDEFINED | NUMBER | LETTER | SEPARATOR | MARK | PUNCTUATION | SYMBOL | CONTROL;
        for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
            int category = UnicodeFlags.of(cp) & categories;
            if (Integer.bitCount(category) != 1) {
                assertThat(Integer.bitCount(category)).as("U+%04X", cp).isEqualTo(1);
            }
        }
    }

    @Test
    void of_whitespace_sameAsJavaUnicodeRegexButNotAsDefaultRegex() {
        Pattern unicodeSpace = Pattern.compile("\\s", Pattern.UNICODE_CHARACTER_CLASS);
        Pattern defaultSpace = Pattern.compile("\\s");
        StringBuilder unicodeDifferences = new StringBuilder();
        StringBuilder defaultDifferences = new StringBuilder();
        for (int cp = 0; cp < 0x10000; cp++) { // White_Space has no supplementary code points
            boolean ours = UnicodeFlags.isWhitespace(UnicodeFlags.of(cp));
            String s = Character.toString(cp);
            if (ours != unicodeSpace.matcher(s).matches()) {
                unicodeDifferences.append(String.format("U+%04X ", cp));
            }
            if (ours != defaultSpace.matcher(s).matches()) {
                defaultDifferences.append(String.format("U+%04X ", cp));
            }
        }
        assertThat(unicodeDifferences.toString()).isEmpty();
        assertThat(defaultDifferences.toString().trim()).startsWith("U+0085 U+00A0 U+1680").endsWith("U+3000");
    }

    @Test
    void of_letters_differFromJavaOnlyInUnicode16Additions() {
        int[] ranges = UnicodeFlags.assignedInUnicode16Ranges();
        for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp++) {
            boolean ours = UnicodeFlags.isLetter(UnicodeFlags.of(cp));
            if (ours != Character.isLetter(cp)) { // what \p{L} matches
                boolean in16 = false;
                for (int i = 0; i < ranges.length; i += 2) {
                    in16 |= cp >= ranges[i] && cp <= ranges[i + 1];
                }
                assertThat(in16).as("U+%04X differs from \\p{L} but is not a Unicode 16 addition", cp).isTrue();
            }
        }
    }

    @Test
    void assignedInUnicode16Ranges_sortedAndDisjoint() {
        int[] r = UnicodeFlags.assignedInUnicode16Ranges();
        for (int i = 0; i < r.length; i += 2) {
            assertThat(r[i]).isLessThanOrEqualTo(r[i + 1]);
            if (i > 0) {
                assertThat(r[i]).isGreaterThan(r[i - 1]);
            }
        }
    }
}
