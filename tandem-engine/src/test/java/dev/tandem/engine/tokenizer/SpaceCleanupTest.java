package dev.tandem.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

class SpaceCleanupTest {

    /**
     * The reference: llama.cpp's three in-place passes over the whole text, written out as a
     * plain batch algorithm (each pass reads the previous pass's output).
     */
    static String threePasses(String text) {
        char[] t = text.toCharArray();
        int total = t.length;
        // Pass 1: " ?" " !" " ." " ," lose the space.
        int n1 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < n1; i++) {
            char x = t[i];
            if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) {
                total--;
            }
            t[total++] = x;
        }
        // Pass 2: " ' " loses both spaces; the consumed space no longer counts as a space.
        int n2 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < n2; i++) {
            char x = t[i];
            if (x == '\'' && i + 1 < n2 && t[i - 1] == ' ' && t[i + 1] == ' ') {
                total--;
                t[++i] = '\0';
            }
            t[total++] = x;
        }
        // Pass 3: " 's" " 'm" " 're" " 've" lose the space.
        int n3 = total;
        total = total > 0 ? 1 : 0;
        for (int i = 1; i < n3; i++) {
            char x = t[i];
            if (t[i - 1] == ' ' && x == '\'' && i + 1 < n3) {
                char x1 = t[i + 1];
                if (x1 == 's' || x1 == 'm') {
                    total--;
                } else if (i + 2 < n3) {
                    char x2 = t[i + 2];
                    if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) {
                        total--;
                    }
                }
            }
            t[total++] = x;
        }
        return new String(t, 0, total);
    }

    static String streamed(String text, SplittableRandom random) {
        byte[] bytes = text.getBytes(StandardCharsets.ISO_8859_1);
        SpaceCleanup cleanup = new SpaceCleanup();
        Bytes out = new Bytes(8);
        for (int i = 0; i < bytes.length; ) {
            int n = Math.min(bytes.length - i, random == null ? bytes.length : random.nextInt(1, 4));
            cleanup.push(bytes, i, n, out);
            i += n;
        }
        cleanup.finish(out);
        return new String(out.toArray(), StandardCharsets.ISO_8859_1);
    }

    @ParameterizedTest(name = "[{0}]")
    @CsvSource(delimiter = '|', value = {
        "'Hello , world ! Is it ? Yes . I '' m sure it ''s fine , isn ''t it ? We ''ve , you ''re , I ''ll , he ''d'"
            + "| 'Hello, world! Is it? Yes. I''m sure it''s fine, isn ''t it? We''ve, you''re, I ''ll, he ''d'",
        "'a '' '' b '''' '' c '' ''s '' ''ll ''d' | 'a'''' b ''''''c''''s''''ll ''d'",
        "' .'   | '.'",
        "'  ,'  | ' ,'",
        "' '' ' | ''''",
        "' ''r' | ' ''r'",
        "'x '''  | 'x '''",
    })
    void push_llamaCppExamples_cleanedText(String text, String expected) {
        assertThat(threePasses(text)).isEqualTo(expected);
        assertThat(streamed(text, null)).isEqualTo(expected);
    }

    static LongStream seeds() {
        return LongStream.range(0, 200);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void push_randomTextInRandomPieces_sameAsThreePasses(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        String alphabet = "  '''smrvetdlx?!.,";
        StringBuilder sb = new StringBuilder();
        int n = random.nextInt(0, 24);
        for (int i = 0; i < n; i++) {
            sb.append(alphabet.charAt(random.nextInt(alphabet.length())));
        }
        String text = sb.toString();
        assertThat(streamed(text, random)).as("seed %d text [%s]", seed, text).isEqualTo(threePasses(text));
    }
}
