package dev.tandem.engine.tokenizer;

import static dev.tandem.engine.tokenizer.TestFiles.hex;
import static dev.tandem.engine.tokenizer.TestFiles.ints;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every tokenization llama.cpp computed for the test models (../shared/reference): ids, token
 * texts, pieces, detokenized bytes, the parse-special variants, and streaming decode.
 */
class TokenizerReferenceTest {

    /** One case of llamacpp-bpe-tokenizers.json, named "vocabulary/id" in the test report. */
    record BpeCase(String model, String name, JsonNode node) {
        byte[] input() {
            return node.has("text_hex") ? hex(node.get("text_hex").asText())
                    : node.get("text").asText().getBytes(StandardCharsets.UTF_8);
        }

        byte[] detokenized() {
            return node.has("detokenized_hex") ? hex(node.get("detokenized_hex").asText())
                    : node.get("detokenized").asText().getBytes(StandardCharsets.UTF_8);
        }

        Tokenizer tokenizer() {
            return TestFiles.tokenizer(model);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<BpeCase> bpeCases() {
        List<BpeCase> cases = new ArrayList<>();
        for (JsonNode vocabulary : TestFiles.json("llamacpp-bpe-tokenizers.json").get("vocabularies")) {
            for (JsonNode c : vocabulary.get("cases")) {
                cases.add(new BpeCase(vocabulary.get("model").asText(),
                        vocabulary.get("name").asText() + "/" + c.get("id").asText(), c));
            }
        }
        return cases.stream();
    }

    static Stream<Arguments> testTokenizer0Cases() {
        List<Arguments> cases = new ArrayList<>();
        for (JsonNode vocabulary : TestFiles.json("llamacpp-bpe-tokenizers.json").get("vocabularies")) {
            for (JsonNode c : vocabulary.get("llamacpp_test_tokenizer_0").get("cases")) {
                cases.add(Arguments.of(vocabulary.get("model").asText(), c.get("text").asText(), c.get("ids")));
            }
        }
        return cases.stream();
    }

    static Stream<JsonNode> storiesCases() {
        List<JsonNode> cases = new ArrayList<>();
        TestFiles.json("llamacpp-stories260K.json").get("tokenization").forEach(cases::add);
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("bpeCases")
    void encode_bpeReferenceCase_sameIdsAsLlamaCpp(BpeCase c) {
        assertThat(c.tokenizer().encode(c.input(), false, false)).containsExactly(ints(c.node().get("ids")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("bpeCases")
    void encode_bpeReferenceCaseWithAddSpecial_sameIdsBecauseNoBos(BpeCase c) {
        assertThat(c.tokenizer().encode(c.input(), true, false)).containsExactly(ints(c.node().get("ids")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("bpeCases")
    void encode_bpeReferenceCaseParsingSpecial_sameIdsAsLlamaCpp(BpeCase c) {
        assertThat(c.tokenizer().encode(c.input(), false, true))
                .containsExactly(ints(c.node().get("ids_parse_special")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("bpeCases")
    void tokenTextAndPiece_bpeReferenceCase_sameAsLlamaCpp(BpeCase c) {
        int[] ids = ints(c.node().get("ids"));
        List<String> texts = new ArrayList<>();
        List<String> pieces = new ArrayList<>();
        for (int id : ids) {
            texts.add(c.tokenizer().tokenText(id));
            pieces.add(HexFormat.of().formatHex(c.tokenizer().piece(id, true)));
        }
        List<String> expectedTexts = new ArrayList<>();
        c.node().get("tokens").forEach(t -> expectedTexts.add(t.asText()));
        List<String> expectedPieces = new ArrayList<>();
        c.node().get("pieces_hex").forEach(t -> expectedPieces.add(t.asText()));
        assertThat(texts).containsExactlyElementsOf(expectedTexts);
        assertThat(pieces).containsExactlyElementsOf(expectedPieces);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("bpeCases")
    void decodeBytes_bpeReferenceCase_sameBytesAsLlamaCpp(BpeCase c) {
        int[] ids = ints(c.node().get("ids"));
        assertThat(c.tokenizer().decodeBytes(ids, false)).containsExactly(c.detokenized());
        if (c.node().has("detokenized_unparse_special")) {
            assertThat(new String(c.tokenizer().decodeBytes(ids, true), StandardCharsets.UTF_8))
                    .isEqualTo(c.node().get("detokenized_unparse_special").asText());
        } else {
            assertThat(c.tokenizer().decodeBytes(ids, true)).containsExactly(c.detokenized());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("bpeCases")
    void decodeBytes_bpeReferenceSpecialIdsRendered_sameTextAsLlamaCpp(BpeCase c) {
        if (!c.node().has("detokenized_parse_special")) {
            return; // ids_parse_special equal ids: covered above
        }
        int[] ids = ints(c.node().get("ids_parse_special"));
        List<String> expectedTexts = new ArrayList<>();
        c.node().get("tokens_parse_special").forEach(t -> expectedTexts.add(t.asText()));
        assertThat(c.tokenizer().decodeBytes(ids, true))
                .asString(StandardCharsets.UTF_8)
                .isEqualTo(c.node().get("detokenized_parse_special").asText());
        assertThat(Stream.of(ids).flatMapToInt(java.util.Arrays::stream).mapToObj(c.tokenizer()::tokenText).toList())
                .containsExactlyElementsOf(expectedTexts);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("bpeCases")
    void streamDecoder_bpeReferenceCase_concatenationEqualsDecode(BpeCase c) {
        int[] ids = ints(c.node().get("ids_parse_special"));
        assertThat(StreamDecoderTest.streamed(c.tokenizer(), ids, false)).isEqualTo(c.tokenizer().decode(ids));
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("testTokenizer0Cases")
    void encode_llamaCppTestTokenizer0Input_sameIdsAsHuggingFace(String model, String text, JsonNode ids) {
        assertThat(TestFiles.tokenizer(model).encode(text, false, false)).containsExactly(ints(ids));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("storiesCases")
    void encode_stories260kReferenceCase_sameIdsAndPiecesAsLlamaCpp(JsonNode c) {
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        int[] ids = tokenizer.encode(c.get("text").asText(), false, false);
        assertThat(ids).containsExactly(ints(c.get("ids_no_bos")));
        List<String> pieces = new ArrayList<>();
        c.get("pieces_raw").forEach(p -> pieces.add(p.asText()));
        assertThat(Stream.of(ids).flatMapToInt(java.util.Arrays::stream).mapToObj(tokenizer::tokenText).toList())
                .containsExactlyElementsOf(pieces);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("storiesCases")
    void encode_stories260kWithAddSpecial_startsWithBos(JsonNode c) {
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        int[] expected = ints(c.get("ids_no_bos"));
        int[] withBos = new int[expected.length + 1];
        withBos[0] = 1;
        System.arraycopy(expected, 0, withBos, 1, expected.length);
        assertThat(tokenizer.encode(c.get("text").asText(), true, false)).containsExactly(withBos);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("storiesCases")
    void decode_stories260kReferenceIds_originalText(JsonNode c) {
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        int[] ids = ints(c.get("ids_no_bos"));
        assertThat(tokenizer.decode(ids)).isEqualTo(c.get("text").asText());
        assertThat(StreamDecoderTest.streamed(tokenizer, ids, false)).isEqualTo(c.get("text").asText());
    }

    @org.junit.jupiter.api.Test
    void decode_stories260kGreedyContinuation_llamaCppText() {
        JsonNode greedy = TestFiles.json("llamacpp-stories260K.json").get("greedy");
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        int[] ids = ints(greedy.get("token_ids"));
        assertThat(tokenizer.decode(ids)).isEqualTo(greedy.get("text").asText());
        assertThat(StreamDecoderTest.streamed(tokenizer, ids, true)).isEqualTo(greedy.get("text").asText());
        assertThat(tokenizer.encode(greedy.get("prompt").asText(), true, false))
                .containsExactly(ints(greedy.get("prompt_ids_with_bos")));
    }
}
