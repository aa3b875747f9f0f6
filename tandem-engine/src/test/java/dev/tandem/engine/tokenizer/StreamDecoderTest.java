package dev.tandem.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.RequestException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class StreamDecoderTest {

    /** All increments of a stream decoder over {@code ids}, concatenated, plus its finish. */
    static String streamed(Tokenizer tokenizer, int[] ids, boolean continuesPrompt) {
        StreamDecoder decoder = tokenizer.newStreamDecoder(continuesPrompt);
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            String part = decoder.next(id);
            assertNoBrokenCharacter(part);
            sb.append(part);
        }
        return sb.append(decoder.finish()).toString();
    }

    private static void assertNoBrokenCharacter(String part) {
        for (int i = 0; i < part.length(); i++) {
            char c = part.charAt(i);
            if (Character.isHighSurrogate(c)) {
                assertThat(i + 1 < part.length() && Character.isLowSurrogate(part.charAt(i + 1)))
                        .as("high surrogate at %d of %s has its pair", i, part).isTrue();
            }
        }
    }

    static Stream<Arguments> randomStreams() {
        return Stream.of("stories260K.gguf", "gpt2-vocab-tiny.gguf", "qwen2-vocab-tiny.gguf")
                .flatMap(model -> IntStream.range(0, 40).mapToObj(seed -> Arguments.of(model, 1000L + seed)));
    }

    /**
     * Random ids biased towards the tokens that make streaming hard: byte tokens, tokens with
     * spaces and apostrophes around clean-up punctuation, control tokens, pieces of emoji.
     */
    private static int[] randomIds(Tokenizer tokenizer, SplittableRandom random) {
        int[] interesting = IntStream.concat(
                IntStream.of(tokenizer.encode(" ' 's 're ' , . ? ! 've 'm  'd 😀 ☃ é 你 \n  x' 's", false, false)),
                IntStream.of(tokenizer.encode(new byte[] {(byte) 0xF0, (byte) 0x9F, (byte) 0x98, 0x20,
                    (byte) 0xE2, (byte) 0x98, (byte) 0x83, (byte) 0xC3}, false, false))).toArray();
        int[] ids = new int[random.nextInt(1, 40)];
        for (int i = 0; i < ids.length; i++) {
            int pick = random.nextInt(10);
            if (pick < 6) {
                ids[i] = interesting[random.nextInt(interesting.length)];
            } else if (pick < 7 && tokenizer.bosId() >= 0) {
                ids[i] = random.nextBoolean() ? tokenizer.bosId() : tokenizer.eosId();
            } else {
                ids[i] = random.nextInt(tokenizer.vocabSize());
            }
        }
        return ids;
    }

    @ParameterizedTest(name = "{0} seed {1}")
    @MethodSource("randomStreams")
    void next_randomTokens_concatenationEqualsFullDecode(String model, long seed) {
        Tokenizer tokenizer = TestFiles.tokenizer(model);
        int[] ids = randomIds(tokenizer, new SplittableRandom(seed));
        assertThat(streamed(tokenizer, ids, false)).as("seed %d ids %s", seed, java.util.Arrays.toString(ids))
                .isEqualTo(tokenizer.decode(ids));
    }

    @Test
    void next_emojiSplitAcrossByteFallbackTokens_returnsNothingUntilComplete() {
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        int[] ids = tokenizer.encode("☃", false, false); // ▁, <0xE2>, <0x98>, <0x83>
        assertThat(ids).hasSize(4);
        StreamDecoder decoder = tokenizer.newStreamDecoder(false);
        List<String> parts = new ArrayList<>();
        for (int id : ids) {
            parts.add(decoder.next(id));
        }
        assertThat(parts).containsExactly("", "", "", "☃");
        assertThat(decoder.finish()).isEmpty();
    }

    @Test
    void next_emojiSplitAcrossByteLevelTokens_returnsItWhole() {
        Tokenizer tokenizer = TestFiles.tokenizer("gpt2-vocab-tiny.gguf");
        int[] ids = tokenizer.encode("a 🦙b", false, false);
        StreamDecoder decoder = tokenizer.newStreamDecoder(false);
        List<String> parts = new ArrayList<>();
        for (int id : ids) {
            parts.add(decoder.next(id));
        }
        parts.add(decoder.finish());
        // The space comes out as soon as it is known to stay; the emoji once its last byte arrives.
        assertThat(parts).filteredOn(p -> !p.isEmpty()).containsExactly("a", " ", "🦙", "b");
    }

    @Test
    void finish_danglingPartialCharacter_replacementCharacter() {
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        int e2 = tokenizer.encode("☃", false, false)[1];
        StreamDecoder decoder = tokenizer.newStreamDecoder(true);
        assertThat(decoder.next(e2)).isEmpty();
        assertThat(decoder.finish()).isEqualTo("\uFFFD");
    }

    @Test
    void next_strayContinuationByte_releasedAtOnceAsReplacement() {
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        int x98 = tokenizer.encode("☃", false, false)[2];
        StreamDecoder decoder = tokenizer.newStreamDecoder(true);
        assertThat(decoder.next(x98)).isEqualTo("\uFFFD");
    }

    @Test
    void next_sentencePieceFirstToken_leadingSpaceOnlyWhenContinuingPrompt() {
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        int[] ids = tokenizer.encode("Once upon", false, false);
        assertThat(streamed(tokenizer, ids, false)).isEqualTo("Once upon");
        assertThat(streamed(tokenizer, ids, true)).isEqualTo(" Once upon");
    }

    @Test
    void next_gpt2SpaceBeforeComma_heldUntilNextTokenThenDropped() {
        Tokenizer tokenizer = TestFiles.tokenizer("gpt2-vocab-tiny.gguf");
        int[] ids = tokenizer.encode("Hello , world", false, false); // Hello, Ġ,, Ġworld
        StreamDecoder decoder = tokenizer.newStreamDecoder(false);
        StringBuilder seen = new StringBuilder();
        for (int id : ids) {
            seen.append('[').append(decoder.next(id)).append(']');
        }
        seen.append('[').append(decoder.finish()).append(']');
        assertThat(seen.toString()).isEqualTo("[Hello][,][ world][]");
        assertThat(tokenizer.decode(ids)).isEqualTo("Hello, world");
    }

    @Test
    void next_gpt2TrailingSpace_releasedByFinish() {
        Tokenizer tokenizer = TestFiles.tokenizer("gpt2-vocab-tiny.gguf");
        StreamDecoder decoder = tokenizer.newStreamDecoder(false);
        assertThat(decoder.next(tokenizer.encode(" ", false, false)[0])).isEmpty();
        assertThat(decoder.finish()).isEqualTo(" ");
    }

    @Test
    void next_controlToken_rendersNothing() {
        Tokenizer tokenizer = TestFiles.tokenizer("qwen2-vocab-tiny.gguf");
        StreamDecoder decoder = tokenizer.newStreamDecoder(false);
        assertThat(decoder.next(151645)).isEmpty(); // <|im_end|>
        assertThat(decoder.next(151657)).isEqualTo("<tool_call>"); // user-defined: rendered
    }

    @Test
    void next_idOutsideVocabulary_requestException() {
        Tokenizer tokenizer = TestFiles.tokenizer("qwen2-vocab-tiny.gguf");
        StreamDecoder decoder = tokenizer.newStreamDecoder(false);
        assertThatThrownBy(() -> decoder.next(151936))
                .isInstanceOf(RequestException.class)
                .hasMessageContaining("151936").hasMessageContaining("0..151935");
    }
}
