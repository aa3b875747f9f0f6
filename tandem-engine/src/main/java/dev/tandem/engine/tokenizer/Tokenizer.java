package dev.tandem.engine.tokenizer;

import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgufFile;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Text to token ids and back, for one model's vocabulary, behaving exactly as llama.cpp does
 * for the same GGUF file (same ids for every input, same detokenized bytes).
 *
 * <p>Two implementations, picked by {@code tokenizer.ggml.model}: {@code llama} is
 * SentencePiece-style ({@link SpmTokenizer}), {@code gpt2} is byte-level BPE
 * ({@link BpeTokenizer}). Use {@link #fromGguf}. They differ only in {@link #encode} and in the
 * {@link Detokenizer} they build; the vocabulary, decoding and special ids live here.
 *
 * <p>Terms: <em>special</em> tokens are the vocabulary's control tokens (BOS, EOS,
 * {@code <|im_start|>}, ...); user-defined tokens (Qwen2.5's {@code <tool_call>}) are matched in
 * text and rendered in output always. <em>End of generation</em> covers EOS, EOT and the other
 * tokens llama.cpp stops on.
 *
 * <p>Thread ownership: immutable and safe for concurrent use, except the
 * {@link StreamDecoder}s it hands out, which belong to one request each.
 */
public abstract sealed class Tokenizer permits SpmTokenizer, BpeTokenizer {
    /** The token texts, scores, types and special ids both tokenizer models read the same way. */
    final Vocabulary vocab;
    /** Ids to bytes; the model-specific part is chosen by the subclass. */
    final Detokenizer detokenizer;

    Tokenizer(Vocabulary vocab, Detokenizer detokenizer) {
        this.vocab = vocab;
        this.detokenizer = detokenizer;
    }

    /**
     * The tokenizer described by a GGUF file's {@code tokenizer.ggml.*} metadata.
     *
     * @throws ModelFormatException if the file has no tokenizer, an unsupported tokenizer model
     *     or pre-tokenizer, or inconsistent tokenizer metadata
     */
    public static Tokenizer fromGguf(GgufFile gguf) {
        String model = gguf.string("tokenizer.ggml.model", null);
        if (model == null) {
            throw new ModelFormatException(gguf.path() + " has no tokenizer: metadata key tokenizer.ggml.model is missing");
        }
        return switch (model) {
            case "llama" -> SpmTokenizer.load(gguf);
            case "gpt2" -> BpeTokenizer.load(gguf);
            default -> throw new ModelFormatException(gguf.path() + ": unsupported tokenizer model '" + model
                    + "' (tokenizer.ggml.model); supported: llama (SentencePiece), gpt2 (byte-level BPE)");
        };
    }

    /** Number of tokens; valid ids are {@code 0..vocabSize()-1}. */
    public final int vocabSize() {
        return vocab.size();
    }

    /**
     * Tokenizes UTF-8 text (invalid bytes are handled as llama.cpp does).
     *
     * @param addSpecial add BOS (and EOS) where the model says so ({@link #addsBos()})
     * @param parseSpecial match control-token texts such as {@code <|im_start|>} in the text;
     *     when false they are tokenized as ordinary text
     */
    public final int[] encode(byte[] utf8, boolean addSpecial, boolean parseSpecial) {
        return encode(utf8, addSpecial, parseSpecial, List.of());
    }

    /**
     * Tokenizes UTF-8 text with some byte ranges treated apart ({@link TextSpan}): plain spans
     * never produce control tokens even when {@code parseSpecial}, spans with ids become those
     * ids (the text on either side is tokenized on its own). Without spans this is
     * {@link #encode(byte[], boolean, boolean)}.
     *
     * @param spans sorted, non-overlapping ranges inside the text
     * @throws IllegalArgumentException if the spans are not sorted, overlap or leave the text
     */
    public abstract int[] encode(byte[] utf8, boolean addSpecial, boolean parseSpecial, List<TextSpan> spans);

    /** {@link #encode(byte[], boolean, boolean)} of the text's UTF-8 bytes. */
    public final int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        return encode(text.getBytes(StandardCharsets.UTF_8), addSpecial, parseSpecial);
    }

    /**
     * Detokenizes ids to bytes, as llama.cpp's {@code llama_detokenize(ids, remove_special =
     * false, unparse_special = renderSpecial)}: control tokens render as nothing unless
     * {@code renderSpecial}; SentencePiece's leading dummy space is removed from the first
     * token; GPT-2-style vocabularies clean up spaces before punctuation.
     *
     * @throws dev.tandem.core.RequestException if an id is outside the vocabulary
     */
    public final byte[] decodeBytes(int[] ids, boolean renderSpecial) {
        return detokenizer.decode(ids, renderSpecial);
    }

    /**
     * {@link #decodeBytes} without special tokens, as a string. Malformed UTF-8 (possible with
     * byte tokens) becomes U+FFFD once per maximal invalid subsequence, as in browsers.
     */
    public final String decode(int[] ids) {
        byte[] bytes = decodeBytes(ids, false);
        return Utf8.text(bytes, 0, bytes.length);
    }

    /**
     * The bytes one token contributes to decoded text, with no leading-space removal and no
     * clean-up (llama.cpp's {@code llama_token_to_piece(id, lstrip 0, special)}). A piece can be
     * part of a UTF-8 character; control tokens give nothing unless {@code renderSpecial}.
     */
    public final byte[] piece(int id, boolean renderSpecial) {
        return detokenizer.piece(id, renderSpecial);
    }

    /** The token's text in the vocabulary ({@code ▁Once}, {@code Ġworld}, {@code <0x0A>}, {@code <s>}). */
    public final String tokenText(int id) {
        detokenizer.checkId(id);
        return vocab.texts[id];
    }

    /** The BOS id, or -1 if the vocabulary has none. */
    public final int bosId() {
        return vocab.bos;
    }

    /** The EOS id, or -1 if the vocabulary has none. */
    public final int eosId() {
        return vocab.eos;
    }

    /** Whether {@code encode(..., addSpecial = true, ...)} starts with BOS. */
    public final boolean addsBos() {
        return vocab.addBos;
    }

    /** Whether generation stops at this token: EOS, EOT, EOM and llama.cpp's end-of-generation list. */
    public final boolean isEndOfGeneration(int id) {
        return vocab.isEndOfGeneration(id);
    }

    /**
     * A new incremental decoder for one stream of generated tokens.
     *
     * @param continuesPrompt true when the text continues a prompt (keeps the first token's
     *     leading space); false to reproduce {@link #decode} of the stream exactly
     */
    public final StreamDecoder newStreamDecoder(boolean continuesPrompt) {
        return new StreamDecoder(detokenizer, continuesPrompt, false);
    }
}
