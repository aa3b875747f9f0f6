package dev.tandem.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgufFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TokenizerTest {
    @TempDir
    Path dir;

    private static TreeSet<Integer> endOfGeneration(Tokenizer tokenizer) {
        TreeSet<Integer> ids = new TreeSet<>();
        IntStream.range(0, tokenizer.vocabSize()).filter(tokenizer::isEndOfGeneration).forEach(ids::add);
        return ids;
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1})
    void isEndOfGeneration_bpeVocabularies_llamaCppEogSet(int vocabulary) {
        JsonNode v = TestFiles.json("llamacpp-bpe-tokenizers.json").get("vocabularies").get(vocabulary);
        TreeSet<Integer> expected = new TreeSet<>();
        v.get("special_tokens").forEach(t -> {
            if (t.get("is_eog").asBoolean()) {
                expected.add(t.get("id").asInt());
            }
        });
        Tokenizer tokenizer = TestFiles.tokenizer(v.get("model").asText());
        assertThat(endOfGeneration(tokenizer)).containsExactlyElementsOf(expected);
        assertThat(tokenizer.bosId()).isEqualTo(v.get("special_ids").get("bos").asInt());
        assertThat(tokenizer.eosId()).isEqualTo(v.get("special_ids").get("eos").asInt());
        assertThat(tokenizer.addsBos()).isEqualTo(v.get("add_bos").asBoolean());
        assertThat(tokenizer.vocabSize()).isEqualTo(v.get("n_tokens").asInt());
    }

    @Test
    void fromGguf_stories260k_sentencePieceWithBosAndEos() {
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        assertThat(tokenizer).isInstanceOf(SpmTokenizer.class);
        assertThat(tokenizer.bosId()).isEqualTo(1);
        assertThat(tokenizer.eosId()).isEqualTo(2);
        assertThat(tokenizer.addsBos()).isTrue();
        assertThat(endOfGeneration(tokenizer)).containsExactly(2);
        assertThat(tokenizer.tokenText(13)).isEqualTo("<0x0A>");
        assertThat(tokenizer.piece(13, false)).containsExactly('\n');
        assertThat(tokenizer.piece(1, false)).isEmpty();
        assertThat(tokenizer.piece(1, true)).asString().isEqualTo("<s>");
    }

    @Test
    void encode_sentencePieceParseSpecial_tokenAndDummySpaceAfterIt() {
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        List<Integer> expected = new ArrayList<>();
        IntStream.of(tokenizer.encode("Once", false, false)).forEach(expected::add);
        expected.add(1);
        IntStream.of(tokenizer.encode(" upon", false, false)).forEach(expected::add); // "▁▁upon": prefix + space
        expected.add(2);
        assertThat(tokenizer.encode("Once<s> upon</s>", false, true))
                .containsExactly(expected.stream().mapToInt(Integer::intValue).toArray());
        assertThat(tokenizer.encode("Once<s> upon</s>", false, false)).doesNotContain(1, 2);
    }

    @Test
    void decode_leadingBos_keepsNextTokensSpaceAsLlamaCpp() {
        Tokenizer tokenizer = TestFiles.tokenizer("stories260K.gguf");
        assertThat(tokenizer.decode(tokenizer.encode("Once upon", true, false))).isEqualTo(" Once upon");
        assertThat(tokenizer.decode(tokenizer.encode("Once upon", false, false))).isEqualTo("Once upon");
    }

    @Test
    void encode_qwenTextAcrossSpecialTokens_spaceBeforeSpecialIsItsOwnToken() {
        Tokenizer tokenizer = TestFiles.tokenizer("qwen2-vocab-tiny.gguf");
        int[] ids = tokenizer.encode("hi <|im_end|>", false, true);
        assertThat(ids).endsWith(220, 151645);
    }

    // ---- synthetic byte-level vocabularies ---------------------------------------------------

    /** A BPE vocabulary: all 256 byte symbols, then {@code extra} tokens; merges as given. */
    private Path bpeModel(String pre, List<String> extra, List<String> merges, Object... more) {
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(ByteLevel.encode(new byte[] {(byte) b}));
        }
        tokens.addAll(extra);
        tokens.add("<|bos|>");
        int[] types = new int[tokens.size()];
        java.util.Arrays.fill(types, 1);
        types[tokens.size() - 1] = 3;
        GgufWriter w = new GgufWriter().put("general.architecture", "llama")
                .put("tokenizer.ggml.model", "gpt2").put("tokenizer.ggml.tokens", tokens.toArray(String[]::new))
                .put("tokenizer.ggml.token_type", types).put("tokenizer.ggml.merges", merges.toArray(String[]::new))
                .put("tokenizer.ggml.bos_token_id", tokens.size() - 1);
        if (pre != null) {
            w.put("tokenizer.ggml.pre", pre);
        }
        for (int i = 0; i < more.length; i += 2) {
            w.put((String) more[i], more[i + 1]);
        }
        return w.write(dir.resolve("bpe-" + pre + ".gguf"));
    }

    private static Tokenizer load(Path file) {
        return Tokenizer.fromGguf(GgufFile.open(file)); // test files are tiny; the mapping lives until GC
    }

    private static String texts(Tokenizer tokenizer, int[] ids) {
        List<String> out = new ArrayList<>();
        for (int id : ids) {
            out.add(tokenizer.tokenText(id));
        }
        return String.join("|", out);
    }

    @Test
    void encode_llama3WordThatIsAToken_takenWholeDespiteMerges() {
        List<String> extra = List.of("xy", "xyz");
        List<String> merges = List.of("x y");
        Tokenizer llama3 = load(bpeModel("llama-bpe", extra, merges));
        Tokenizer dbrx = load(bpeModel("dbrx", extra, merges));
        assertThat(texts(llama3, llama3.encode("xyz", false, false))).isEqualTo("xyz");
        assertThat(texts(dbrx, dbrx.encode("xyz", false, false))).isEqualTo("xy|z");
    }

    @Test
    void encode_llama3Defaults_addsBosUnlessFileSaysNo() {
        Tokenizer llama3 = load(bpeModel("llama-bpe", List.of(), List.of()));
        assertThat(llama3.addsBos()).isTrue();
        assertThat(llama3.encode("a", true, false)).containsExactly(llama3.bosId(), 'a'); // token b is byte b here
        Tokenizer noBos = load(bpeModel("llama-bpe", List.of(), List.of(), "tokenizer.ggml.add_bos_token", false));
        assertThat(noBos.encode("a", true, false)).containsExactly('a');
    }

    @Test
    void encode_mergeResultNotInVocabulary_fallsBackToPrintableSingleBytesAsLlamaCpp() {
        // "q r" and "Ġ q" merge into strings that are not tokens; llama.cpp then emits the
        // one-character tokens of the printable bytes and silently drops the space.
        Tokenizer tokenizer = load(bpeModel("gpt-2", List.of(), List.of("q r", "Ġ q")));
        assertThat(texts(tokenizer, tokenizer.encode("qr", false, false))).isEqualTo("q|r");
        assertThat(texts(tokenizer, tokenizer.encode(" q", false, false))).isEqualTo("q");
    }

    @Test
    void encode_mergeRanks_lowestRankFirstTiesLeftmost() {
        // "aaa": both pairs are "a a" (same rank): the leftmost merges first -> "aa|a".
        // "abc" with "b c" ranked before "a b": "a|bc".
        Tokenizer tokenizer = load(bpeModel("gpt-2", List.of("aa", "bc", "ab"), List.of("b c", "a a", "a b")));
        assertThat(texts(tokenizer, tokenizer.encode("aaa", false, false))).isEqualTo("aa|a");
        assertThat(texts(tokenizer, tokenizer.encode("abc", false, false))).isEqualTo("a|bc");
    }

    // ---- bad input ---------------------------------------------------------------------------

    @Test
    void fromGguf_noTokenizerMetadata_clearError() {
        Path file = new GgufWriter().put("general.architecture", "llama").write(dir.resolve("none.gguf"));
        assertThatThrownBy(() -> load(file)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("none.gguf has no tokenizer").hasMessageContaining("tokenizer.ggml.model");
    }

    @Test
    void fromGguf_unknownTokenizerModel_clearError() {
        Path file = new GgufWriter().put("tokenizer.ggml.model", "bert")
                .put("tokenizer.ggml.tokens", new String[] {"a"}).write(dir.resolve("bert.gguf"));
        assertThatThrownBy(() -> load(file)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("unsupported tokenizer model 'bert'").hasMessageContaining("gpt2");
    }

    @Test
    void fromGguf_unknownPreTokenizer_clearError() {
        assertThatThrownBy(() -> load(bpeModel("default", List.of(), List.of())))
                .isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("unsupported BPE pre-tokenizer 'default'").hasMessageContaining("qwen2");
        assertThatThrownBy(() -> load(bpeModel(null, List.of(), List.of())))
                .isInstanceOf(ModelFormatException.class).hasMessageContaining("tokenizer.ggml.pre is missing");
    }

    @Test
    void fromGguf_bpeWithoutMerges_clearError() {
        Path file = new GgufWriter().put("tokenizer.ggml.model", "gpt2").put("tokenizer.ggml.pre", "qwen2")
                .put("tokenizer.ggml.tokens", new String[] {"a"}).write(dir.resolve("nomerges.gguf"));
        assertThatThrownBy(() -> load(file)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("tokenizer.ggml.merges is missing");
    }

    @Test
    void fromGguf_noTokens_clearError() {
        Path file = new GgufWriter().put("tokenizer.ggml.model", "llama").write(dir.resolve("notokens.gguf"));
        assertThatThrownBy(() -> load(file)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("tokenizer.ggml.tokens is missing");
    }

    @Test
    void fromGguf_tokenTypesShorterThanTokens_clearError() {
        Path file = new GgufWriter().put("tokenizer.ggml.model", "llama")
                .put("tokenizer.ggml.tokens", new String[] {"<unk>", "<s>", "</s>"})
                .put("tokenizer.ggml.token_type", new int[] {2, 3}).write(dir.resolve("types.gguf"));
        assertThatThrownBy(() -> load(file)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("token_type has 2 entries for 3 tokens");
    }

    @Test
    void fromGguf_addBosWithoutBosToken_clearError() {
        Path file = new GgufWriter().put("tokenizer.ggml.model", "llama")
                .put("tokenizer.ggml.tokens", new String[] {"<unk>"}).write(dir.resolve("nobos.gguf"));
        assertThatThrownBy(() -> load(file)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("add_bos_token is true but there is no BOS token");
    }

    @Test
    void fromGguf_tokensOfWrongType_clearError() {
        Path file = new GgufWriter().put("tokenizer.ggml.model", "llama").put("tokenizer.ggml.tokens", "abc")
                .write(dir.resolve("wrongtype.gguf"));
        assertThatThrownBy(() -> load(file)).isInstanceOf(ModelFormatException.class)
                .hasMessageContaining("tokenizer.ggml.tokens");
    }

    @Test
    void decode_idOutsideVocabulary_requestException() {
        Tokenizer tokenizer = TestFiles.tokenizer("gpt2-vocab-tiny.gguf");
        assertThatThrownBy(() -> tokenizer.decode(new int[] {15496, -1}))
                .isInstanceOf(dev.tandem.core.RequestException.class).hasMessageContaining("token id -1");
    }
}
