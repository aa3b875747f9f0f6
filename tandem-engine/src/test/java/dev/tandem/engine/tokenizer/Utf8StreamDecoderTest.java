package dev.tandem.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class Utf8StreamDecoderTest {

    @Test
    void push_threeByteCharSplitOverTokens_emitsNothingUntilComplete() {
        Utf8StreamDecoder d = new Utf8StreamDecoder();
        byte[] euro = "€".getBytes(StandardCharsets.UTF_8); // E2 82 AC

        assertThat(d.push(new byte[] {euro[0]})).isEmpty();
        assertThat(d.hasPending()).isTrue();
        assertThat(d.push(new byte[] {euro[1]})).isEmpty();
        assertThat(d.push(new byte[] {euro[2], 'x'})).isEqualTo("€x");
        assertThat(d.hasPending()).isFalse();
    }

    @Test
    void push_fourByteCharSplit_emitsWholeSurrogatePairTogether() {
        Utf8StreamDecoder d = new Utf8StreamDecoder();
        byte[] smile = "😀".getBytes(StandardCharsets.UTF_8);

        assertThat(d.push(new byte[] {smile[0], smile[1], smile[2]})).isEmpty();
        assertThat(d.push(new byte[] {smile[3]})).isEqualTo("😀");
    }

    @Test
    void push_invalidLeadByte_replacedAtOnce() {
        Utf8StreamDecoder d = new Utf8StreamDecoder();

        assertThat(d.push(new byte[] {'a', (byte) 0xFF, 'b'})).isEqualTo("a\uFFFDb");
        assertThat(d.hasPending()).isFalse();
    }

    @Test
    void finish_incompleteTail_becomesReplacementCharacter() {
        Utf8StreamDecoder d = new Utf8StreamDecoder();
        assertThat(d.push(new byte[] {'o', 'k', (byte) 0xE2, (byte) 0x82})).isEqualTo("ok");

        assertThat(d.finish()).isEqualTo("\uFFFD");
        assertThat(d.push("z".getBytes(StandardCharsets.UTF_8))).isEqualTo("z");
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 42, 1234, 99999})
    void push_randomTextRandomSplits_concatenationEqualsTextAndNoPieceEndsMidCharacter(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (int round = 0; round < 200; round++) {
            String text = randomText(random, random.nextInt(0, 40));
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            Utf8StreamDecoder d = new Utf8StreamDecoder();
            StringBuilder out = new StringBuilder();
            for (byte[] piece : split(random, bytes)) {
                String s = d.push(piece);
                if (!s.isEmpty()) {
                    assertThat(Character.isHighSurrogate(s.charAt(s.length() - 1)))
                            .as("seed %d: piece ends in half a character: %s", seed, s).isFalse();
                }
                out.append(s);
            }
            out.append(d.finish());
            assertThat(out.toString()).as("seed %d", seed).isEqualTo(text);
        }
    }

    /**
     * Byte soup (valid characters, lead bytes, stray continuation bytes, surrogates, overlong and
     * out-of-range forms) pushed in random pieces decodes exactly as the whole does.
     */
    @ParameterizedTest
    @ValueSource(longs = {7, 8, 9, 10, 11})
    void push_byteSoupRandomSplits_sameAsWholeDecode(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        byte[] alphabet = HexFormat.of().parseHex("41c3a9e298830f9f98f0908080edc0e0a0f4bfff20");
        for (int round = 0; round < 300; round++) {
            byte[] bytes = new byte[random.nextInt(0, 40)];
            for (int i = 0; i < bytes.length; i++) {
                bytes[i] = random.nextInt(4) == 0 ? (byte) random.nextInt(256) : alphabet[random.nextInt(alphabet.length)];
            }
            Utf8StreamDecoder d = new Utf8StreamDecoder();
            StringBuilder out = new StringBuilder();
            for (byte[] piece : split(random, bytes)) {
                out.append(d.push(piece));
            }
            out.append(d.finish());
            String whole = Utf8.text(bytes, 0, bytes.length);
            assertThat(out.toString()).as("seed %d bytes %s", seed, HexFormat.of().formatHex(bytes)).isEqualTo(whole);
            if (whole.indexOf('\uFFFD') < 0) { // valid UTF-8: the same as Java's decoder
                assertThat(whole).isEqualTo(new String(bytes, StandardCharsets.UTF_8));
            }
        }
    }

    /**
     * Java's decoder gives one U+FFFD for an encoded surrogate; Tandem, as browsers, gives one per
     * maximal subpart (ED cannot be followed by A0), which is what makes split decoding equal whole.
     */
    @Test
    void push_encodedSurrogate_oneReplacementPerMaximalSubpart() {
        Utf8StreamDecoder d = new Utf8StreamDecoder();

        assertThat(d.push(new byte[] {(byte) 0xED})).isEmpty();
        assertThat(d.push(new byte[] {(byte) 0xA0, (byte) 0x80, 'x'})).isEqualTo("\uFFFD\uFFFD\uFFFDx");
        assertThat(d.finish()).isEmpty();
    }

    static String randomText(SplittableRandom random, int codePoints) {
        int[] pool = {'a', 'b', ' ', '\n', 'é', 'ß', '€', '中', '文', 0x1F600, 0x1F4A9, 0x10348};
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < codePoints; i++) {
            sb.appendCodePoint(pool[random.nextInt(pool.length)]);
        }
        return sb.toString();
    }

    static List<byte[]> split(SplittableRandom random, byte[] bytes) {
        List<byte[]> pieces = new ArrayList<>();
        int at = 0;
        while (at < bytes.length) {
            int len = Math.min(bytes.length - at, random.nextInt(0, 5));
            byte[] piece = new byte[len];
            System.arraycopy(bytes, at, piece, 0, len);
            pieces.add(piece);
            at += len;
        }
        return pieces;
    }
}
