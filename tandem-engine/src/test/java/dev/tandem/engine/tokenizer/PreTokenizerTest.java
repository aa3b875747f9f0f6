package dev.tandem.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

class PreTokenizerTest {

    static List<String> split(PreTokenizer pre, String text) {
        int[] cps = text.codePoints().toArray();
        IntBuffer ends = new IntBuffer(8);
        pre.split(cps, ends);
        List<String> words = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < ends.size(); i++) {
            words.add(new String(cps, start, ends.get(i) - start));
            start = ends.get(i);
        }
        return words;
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource(delimiter = '|', value = {
        "GPT2   | '  Hello'            | ' , Hello'",
        "GPT2   | 'DON''T don''t'      | 'DON,'',T, don,''t'",
        "GPT2   | '1234567 x'          | '1234567, x'",
        "GPT2   | 'a\n\n b'            | 'a,\n\n, b'",
        "LLAMA3 | '1234567'            | '123,456,7'",
        "LLAMA3 | 'DON''T we''LL'      | 'DON,''T, we,''LL'",
        "LLAMA3 | 'a,b (n(m'           | 'a,\\,b, (,n,(m'",
        "LLAMA3 | 'x):\n\ny'           | 'x,):\n\n,y'",
        "LLAMA3 | 'a \n \n  b'         | 'a, \n \n, , b'",
        "QWEN2  | '1234567'            | '1,2,3,4,5,6,7'",
        "QWEN2  | 'trailing   '        | 'trailing,   '",
    })
    void split_tricky_llamaCppWords(PreTokenizer pre, String text, String expectedJoined) {
        String unescaped = text.replace("\\n", "\n");
        List<String> expected = new ArrayList<>();
        for (String w : expectedJoined.replace("\\n", "\n").split("(?<!\\\\),", -1)) {
            expected.add(w.replace("\\,", ","));
        }
        assertThat(split(pre, unescaped)).containsExactlyElementsOf(expected);
    }

    /**
     * An independent oracle: the tokenizers' regular expressions run by java.util.regex over a
     * "collapsed" copy of the text in which every non-ASCII code point is replaced by one
     * representative of its llama.cpp class (the trick llama.cpp itself uses for std::regex).
     */
    private static final String L = "[A-Za-z\\x{C0}]";
    private static final String N = "[0-9\\x{B2}]";
    private static final String S = "[\\t\\n\\x0B\\f\\r \\x{A0}]";
    private static final String NOT_S = "[^\\t\\n\\x0B\\f\\r \\x{A0}]";
    private static final String OTHER = "[^\\t\\n\\x0B\\f\\r \\x{A0}A-Za-z\\x{C0}0-9\\x{B2}]";
    private static final Pattern GPT2 = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?" + L + "+| ?" + N + "+| ?" + OTHER + "+|" + S + "+(?!" + NOT_S + ")|" + S + "+");
    private static final String LLAMA_TAIL = "| ?" + OTHER + "+[\\r\\n]*|" + S + "*[\\r\\n]+|" + S + "+(?!" + NOT_S + ")|" + S + "+";
    private static final String LLAMA_HEAD = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n"
            + "A-Za-z\\x{C0}0-9\\x{B2}]?" + L + "+|";
    private static final Pattern LLAMA3 = Pattern.compile(LLAMA_HEAD + N + "{1,3}" + LLAMA_TAIL);
    private static final Pattern QWEN2 = Pattern.compile(LLAMA_HEAD + N + LLAMA_TAIL);

    private static String collapse(String text) {
        StringBuilder sb = new StringBuilder();
        text.codePoints().forEach(cp -> {
            if (cp < 0x80) {
                sb.append((char) cp);
                return;
            }
            int f = UnicodeFlags.of(cp);
            sb.append(UnicodeFlags.isWhitespace(f) ? '\u00A0' : UnicodeFlags.isLetter(f) ? '\u00C0'
                    : UnicodeFlags.isNumber(f) ? '\u00B2' : '\u00A7');
        });
        return sb.toString();
    }

    private static List<String> oracle(Pattern pattern, String text) {
        String collapsed = collapse(text);
        int[] cps = text.codePoints().toArray();
        List<String> words = new ArrayList<>();
        Matcher m = pattern.matcher(collapsed);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) {
                words.add(new String(cps, last, m.start() - last)); // unmatched text is a word too
            }
            words.add(new String(cps, m.start(), m.end() - m.start()));
            last = m.end();
        }
        if (last < cps.length) {
            words.add(new String(cps, last, cps.length - last));
        }
        return words;
    }

    static Stream<Arguments> randomTexts() {
        return Stream.of(PreTokenizer.values()).flatMap(pre -> java.util.stream.LongStream.range(0, 120)
                .mapToObj(seed -> Arguments.of(pre, seed)));
    }

    @ParameterizedTest(name = "{0} seed {1}")
    @MethodSource("randomTexts")
    void split_randomText_sameWordsAsRegexOracle(PreTokenizer pre, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        String[] pieces = {" ", "  ", "\n", "\r\n", "\t", "\u00A0", "\u3000", "\u001C", "'", "'s", "'S", "'ll", "'LL",
            "'re", "'t", "a", "Ab", "é", "日本", "1", "23", "4567", "²", "٣", ",", "!?", "(", "…", "😀", "\u0301",
            "\u200D", "\uFFFD", "\u0378", "x"};
        StringBuilder sb = new StringBuilder();
        int n = random.nextInt(1, 25);
        for (int i = 0; i < n; i++) {
            sb.append(pieces[random.nextInt(pieces.length)]);
        }
        String text = sb.toString();
        Pattern pattern = switch (pre) {
            case GPT2 -> GPT2;
            case LLAMA3 -> LLAMA3;
            case QWEN2 -> QWEN2;
        };
        assertThat(split(pre, text)).as("seed %d text [%s]", seed, text.replace("\n", "\\n"))
                .containsExactlyElementsOf(oracle(pattern, text));
    }
}
