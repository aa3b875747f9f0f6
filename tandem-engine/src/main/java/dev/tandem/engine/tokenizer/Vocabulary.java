package dev.tandem.engine.tokenizer;

import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgufFile;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The tokenizer metadata of a GGUF file as llama.cpp interprets it: token texts, scores and
 * attributes, the special token ids, which tokens end generation, and which are split out of
 * the text before tokenizing.
 *
 * <h2>Design</h2>
 * Token types ({@code tokenizer.ggml.token_type}: 1 normal, 2 unknown, 3 control, 4
 * user-defined, 5 unused, 6 byte) become attribute bits. Then, as llama.cpp does at load time,
 * some attributes are corrected by token text, because converters often type them wrongly:
 * <ul>
 *   <li>EOT, EOM and fill-in-the-middle tokens not given by id are found by text
 *       ({@code <|im_end|>}, {@code <|fim_prefix|>}, ...) and become control tokens;</li>
 *   <li>control tokens whose text contains "unused" become unused;</li>
 *   <li>end of generation (EOG) is: FIM pad/repo/separator, every token whose text is in
 *       {@link #EOG_TEXTS} (those become control tokens too: Qwen's ordinary token
 *       {@code </s>} is one), plus EOS, EOT and EOM.</li>
 * </ul>
 * llama.cpp finds the EOT by iterating a hash map, so with several candidates its choice
 * depends on hashing; here the first text in {@link #EOT_TEXTS} order wins ({@code <|im_end|>}
 * before {@code <|endoftext|>}, which is llama.cpp's result for Qwen2).
 *
 * <p>As in llama.cpp, an empty token text becomes {@code [EMPTY_<id>]}. Differences: a
 * duplicate token text keeps its first id (llama.cpp refuses the file); the model-name-based
 * LSTRIP/RSTRIP attributes (Phi-3, Jina) and the gpt-oss and Gemma 4 end-of-generation
 * workarounds are not taken over.
 *
 * <h2>Invariants</h2>
 * Special ids are -1 ({@link #NONE}) or within the vocabulary; {@link #specialTokens} is sorted
 * by text length, longest first, so longer special tokens win over their prefixes.
 *
 * <h2>Concurrency</h2>
 * Immutable after loading; safe for concurrent use.
 *
 * <h2>References</h2>
 * llama.cpp {@code src/llama-vocab.cpp}: {@code llama_vocab::impl::load},
 * {@code tokenizer_st_partition}.
 */
final class Vocabulary {
    static final int NONE = -1;

    // llama.cpp's llama_token_attr bits.
    static final int ATTR_UNKNOWN = 1;
    static final int ATTR_UNUSED = 1 << 1;
    static final int ATTR_NORMAL = 1 << 2;
    static final int ATTR_CONTROL = 1 << 3;
    static final int ATTR_USER_DEFINED = 1 << 4;
    static final int ATTR_BYTE = 1 << 5;

    private static final String[] EOT_TEXTS = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
        "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"};
    private static final String[] EOM_TEXTS = {"<|eom_id|>"};
    private static final String[] FIM_PRE_TEXTS = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>",
        "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"};
    private static final String[] FIM_SUF_TEXTS = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>",
        "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"};
    private static final String[] FIM_MID_TEXTS = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>",
        "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"};
    private static final String[] FIM_PAD_TEXTS = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"};
    private static final String[] FIM_REP_TEXTS = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"};
    private static final String[] FIM_SEP_TEXTS = {"<|file_sep|>"};
    private static final String[] EOG_TEXTS = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
        "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]",
        "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<｜end▁of▁sentence｜>"};

    /** Where the vocabulary came from, for messages. */
    final String source;
    final String[] texts;
    /** UTF-8 of all token texts, back to back; token i is {@code [textStart[i], textStart[i+1])}. */
    final byte[] textBytes;
    final int[] textStart;
    /** Per-token score (SentencePiece log probability), 0 when the file has none. */
    final float[] scores;
    final int[] attrs;
    final int bos;
    final int eos;
    final int eot;
    final int unk;
    final boolean addBos;
    final boolean addEos;
    final boolean addSpacePrefix;
    private final BitSet eog;
    /** Control, user-defined and unknown tokens, longest text first. */
    final int[] specialTokens;

    private Vocabulary(String source, String[] texts, byte[] textBytes, int[] textStart, float[] scores, int[] attrs,
                       int bos, int eos, int eot, int unk, boolean addBos, boolean addEos, boolean addSpacePrefix,
                       BitSet eog, int[] specialTokens) {
        this.source = source;
        this.texts = texts;
        this.textBytes = textBytes;
        this.textStart = textStart;
        this.scores = scores;
        this.attrs = attrs;
        this.bos = bos;
        this.eos = eos;
        this.eot = eot;
        this.unk = unk;
        this.addBos = addBos;
        this.addEos = addEos;
        this.addSpacePrefix = addSpacePrefix;
        this.eog = eog;
        this.specialTokens = specialTokens;
    }

    /** Defaults that depend on the tokenizer type, before the file's own keys apply. */
    record Defaults(int bos, int eos, int unk, boolean addBos, boolean addSpacePrefix) {
    }

    static Vocabulary load(GgufFile gguf, Defaults defaults) {
        String source = String.valueOf(gguf.path());
        String[] texts = gguf.strings("tokenizer.ggml.tokens");
        if (texts == null || texts.length == 0) {
            throw new ModelFormatException(source + " has no token list (tokenizer.ggml.tokens is missing or empty)");
        }
        int n = texts.length;
        boolean copied = false;
        for (int i = 0; i < n; i++) {
            if (texts[i].isEmpty()) {
                if (!copied) {
                    texts = texts.clone(); // never change the file's own metadata array
                    copied = true;
                }
                texts[i] = "[EMPTY_" + i + "]";
            }
        }
        float[] scores = new float[n];
        double[] fileScores = gguf.reals("tokenizer.ggml.scores");
        if (fileScores != null) {
            if (fileScores.length < n) {
                throw new ModelFormatException(source + ": tokenizer.ggml.scores has " + fileScores.length
                        + " entries for " + n + " tokens");
            }
            for (int i = 0; i < n; i++) {
                scores[i] = (float) fileScores[i];
            }
        }
        int[] attrs = attributes(gguf, source, n);

        int bos = specialId(gguf, "tokenizer.ggml.bos_token_id", defaults.bos(), n);
        int eos = specialId(gguf, "tokenizer.ggml.eos_token_id", defaults.eos(), n);
        int eot = specialId(gguf, "tokenizer.ggml.eot_token_id", NONE, n);
        int eom = specialId(gguf, "tokenizer.ggml.eom_token_id", NONE, n);
        int unk = specialId(gguf, "tokenizer.ggml.unknown_token_id", defaults.unk(), n);
        int fimPre = specialId(gguf, "tokenizer.ggml.fim_pre_token_id",
                specialId(gguf, "tokenizer.ggml.prefix_token_id", NONE, n), n);
        int fimSuf = specialId(gguf, "tokenizer.ggml.fim_suf_token_id",
                specialId(gguf, "tokenizer.ggml.suffix_token_id", NONE, n), n);
        int fimMid = specialId(gguf, "tokenizer.ggml.fim_mid_token_id",
                specialId(gguf, "tokenizer.ggml.middle_token_id", NONE, n), n);
        int fimPad = specialId(gguf, "tokenizer.ggml.fim_pad_token_id", NONE, n);
        int fimRep = specialId(gguf, "tokenizer.ggml.fim_rep_token_id", NONE, n);
        int fimSep = specialId(gguf, "tokenizer.ggml.fim_sep_token_id", NONE, n);

        boolean addBos = gguf.bool("tokenizer.ggml.add_bos_token", defaults.addBos());
        boolean addEos = gguf.bool("tokenizer.ggml.add_eos_token", false);
        boolean addSpacePrefix = gguf.bool("tokenizer.ggml.add_space_prefix", defaults.addSpacePrefix());
        if (addBos && bos == NONE) {
            throw new ModelFormatException(source + ": tokenizer.ggml.add_bos_token is true but there is no BOS token");
        }
        if (addEos && eos == NONE) {
            throw new ModelFormatException(source + ": tokenizer.ggml.add_eos_token is true but there is no EOS token");
        }

        Map<String, Integer> byText = findTexts(texts);
        eot = eot != NONE ? eot : byFirstText(byText, EOT_TEXTS, attrs);
        eom = eom != NONE ? eom : byFirstText(byText, EOM_TEXTS, attrs);
        fimPre = fimPre != NONE ? fimPre : byFirstText(byText, FIM_PRE_TEXTS, attrs);
        fimSuf = fimSuf != NONE ? fimSuf : byFirstText(byText, FIM_SUF_TEXTS, attrs);
        fimMid = fimMid != NONE ? fimMid : byFirstText(byText, FIM_MID_TEXTS, attrs);
        fimPad = fimPad != NONE ? fimPad : byFirstText(byText, FIM_PAD_TEXTS, attrs);
        fimRep = fimRep != NONE ? fimRep : byFirstText(byText, FIM_REP_TEXTS, attrs);
        fimSep = fimSep != NONE ? fimSep : byFirstText(byText, FIM_SEP_TEXTS, attrs);

        for (int i = 0; i < n; i++) {
            if ((attrs[i] & ATTR_CONTROL) != 0 && texts[i].contains("unused")) {
                attrs[i] |= ATTR_UNUSED;
            }
        }

        BitSet eog = new BitSet(n);
        for (int id : new int[] {fimPad, fimRep, fimSep}) {
            if (id != NONE) {
                eog.set(id);
            }
        }
        for (String text : EOG_TEXTS) {
            Integer id = byText.get(text);
            if (id != null) {
                eog.set(id);
                attrs[id] |= ATTR_CONTROL;
            }
        }
        for (int id : new int[] {eos, eot, eom}) {
            if (id != NONE) {
                eog.set(id);
            }
        }

        Bytes utf8 = new Bytes(8 * n);
        int[] textStart = new int[n + 1];
        for (int i = 0; i < n; i++) {
            textStart[i] = utf8.size();
            appendUtf8(texts[i], utf8);
        }
        textStart[n] = utf8.size();
        byte[] textBytes = utf8.toArray();
        int[] special = specialTokens(attrs, textStart);
        return new Vocabulary(source, texts, textBytes, textStart, scores, attrs, bos, eos, eot, unk,
                addBos, addEos, addSpacePrefix, eog, special);
    }

    /** UTF-8 of a Java string (an unpaired surrogate becomes '?', as {@code String.getBytes} does). */
    private static void appendUtf8(String s, Bytes out) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            int cp = c;
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                cp = Character.toCodePoint(c, s.charAt(++i));
            } else if (Character.isSurrogate(c)) {
                cp = '?';
            }
            if (cp < 0x80) {
                out.add((byte) cp);
            } else if (cp < 0x800) {
                out.add((byte) (0xC0 | (cp >> 6)));
                out.add((byte) (0x80 | (cp & 0x3F)));
            } else if (cp < 0x10000) {
                out.add((byte) (0xE0 | (cp >> 12)));
                out.add((byte) (0x80 | ((cp >> 6) & 0x3F)));
                out.add((byte) (0x80 | (cp & 0x3F)));
            } else {
                out.add((byte) (0xF0 | (cp >> 18)));
                out.add((byte) (0x80 | ((cp >> 12) & 0x3F)));
                out.add((byte) (0x80 | ((cp >> 6) & 0x3F)));
                out.add((byte) (0x80 | (cp & 0x3F)));
            }
        }
    }

    private static int[] attributes(GgufFile gguf, String source, int n) {
        int[] attrs = new int[n];
        long[] types = gguf.integers("tokenizer.ggml.token_type");
        if (types == null) {
            Arrays.fill(attrs, ATTR_NORMAL);
            return attrs;
        }
        if (types.length < n) {
            throw new ModelFormatException(source + ": tokenizer.ggml.token_type has " + types.length
                    + " entries for " + n + " tokens");
        }
        for (int i = 0; i < n; i++) {
            attrs[i] = switch ((int) types[i]) {
                case 1 -> ATTR_NORMAL;
                case 2 -> ATTR_UNKNOWN;
                case 3 -> ATTR_CONTROL;
                case 4 -> ATTR_USER_DEFINED;
                case 5 -> ATTR_UNUSED;
                case 6 -> ATTR_BYTE;
                default -> 0; // undefined: rendered as nothing, never split out
            };
        }
        return attrs;
    }

    /** A special token id from the file, or the default; ids outside the vocabulary are ignored. */
    private static int specialId(GgufFile gguf, String key, int fallback, int n) {
        int id = fallback >= 0 && fallback < n ? fallback : NONE;
        long value = gguf.integer(key, -1);
        return value >= 0 && value < n ? (int) value : id;
    }

    private static Map<String, Integer> findTexts(String[] texts) {
        Set<String> wanted = new HashSet<>();
        for (String[] list : List.of(EOT_TEXTS, EOM_TEXTS, FIM_PRE_TEXTS, FIM_SUF_TEXTS, FIM_MID_TEXTS, FIM_PAD_TEXTS,
                FIM_REP_TEXTS, FIM_SEP_TEXTS, EOG_TEXTS)) {
            wanted.addAll(List.of(list));
        }
        Map<String, Integer> found = new HashMap<>();
        for (int i = 0; i < texts.length; i++) {
            if (texts[i].length() <= 24 && wanted.contains(texts[i])) {
                found.putIfAbsent(texts[i], i);
            }
        }
        return found;
    }

    /** The first of {@code candidates} present in the vocabulary, made a control token; or NONE. */
    private static int byFirstText(Map<String, Integer> byText, String[] candidates, int[] attrs) {
        for (String text : candidates) {
            Integer id = byText.get(text);
            if (id != null) {
                attrs[id] |= ATTR_CONTROL;
                return id;
            }
        }
        return NONE;
    }

    private static int[] specialTokens(int[] attrs, int[] textStart) {
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < attrs.length; i++) {
            if ((attrs[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) != 0) {
                ids.add(i);
            }
        }
        ids.sort((a, b) -> {
            int byLength = Integer.compare(textStart[b + 1] - textStart[b], textStart[a + 1] - textStart[a]);
            return byLength != 0 ? byLength : Integer.compare(a, b);
        });
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    int size() {
        return texts.length;
    }

    boolean isEndOfGeneration(int id) {
        return id >= 0 && eog.get(id);
    }

    int textLength(int id) {
        return textStart[id + 1] - textStart[id];
    }

    /** A fragment of plain text: control and unknown token texts in it are ordinary text. */
    static final int PLAIN = -2;
    /** A fragment replaced by given ids: {@code (SPLICED, span index, 0)}. */
    static final int SPLICED = -3;

    /** {@link #partition(byte[], boolean, List)} without spans. */
    IntBuffer partition(byte[] text, boolean parseSpecial) {
        return partition(text, parseSpecial, List.of());
    }

    /**
     * Splits {@code text} around special tokens, as llama.cpp's {@code tokenizer_st_partition}:
     * for each special token, longest first, every occurrence in the remaining plain-text
     * fragments (left to right, not overlapping) becomes that token. Control and unknown tokens
     * are only matched when {@code parseSpecial}, and never inside a span without ids
     * ({@link TextSpan#plain}); user-defined tokens always are. A span with ids becomes those
     * ids. Text fragments that touch after the split are joined again, so a plain span changes
     * nothing unless it holds control-token text.
     *
     * @param spans sorted, non-overlapping byte ranges of {@code text}
     * @return fragments as triples {@code (tokenId, -1, 0)} for a token, {@code (SPLICED, span,
     *     0)} for a span's ids, or {@code (-1, start, length)} for text, in text order
     */
    IntBuffer partition(byte[] text, boolean parseSpecial, List<TextSpan> spans) {
        IntBuffer fragments = new IntBuffer(24 + 3 * spans.size());
        if (text.length == 0) {
            return fragments;
        }
        int at = 0;
        for (int s = 0; s < spans.size(); s++) {
            TextSpan span = spans.get(s);
            if (span.start() < at || span.end() > text.length) {
                throw new IllegalArgumentException("spans must be sorted, disjoint and inside the text: " + span);
            }
            addText(fragments, NONE, at, span.start() - at);
            if (span.ids() != null) {
                fragments.add(SPLICED);
                fragments.add(s);
                fragments.add(0);
            } else {
                addText(fragments, PLAIN, span.start(), span.end() - span.start());
            }
            at = span.end();
        }
        addText(fragments, NONE, at, text.length - at);
        for (int id : specialTokens) {
            boolean control = (attrs[id] & (ATTR_CONTROL | ATTR_UNKNOWN)) != 0;
            if (!parseSpecial && control) {
                continue;
            }
            int patternStart = textStart[id];
            int patternLength = textLength(id);
            if (patternLength == 0 || !containsAnywhere(text, fragments, patternStart, patternLength, control)) {
                continue;
            }
            IntBuffer next = new IntBuffer(fragments.size() + 6);
            for (int f = 0; f < fragments.size(); f += 3) {
                int token = fragments.get(f);
                int start = fragments.get(f + 1);
                int length = fragments.get(f + 2);
                if (!searchable(token, control)) {
                    next.add(token);
                    next.add(start);
                    next.add(length);
                    continue;
                }
                int end = start + length;
                int from = start;
                int match;
                while ((match = indexOf(text, from, end, patternStart, patternLength)) >= 0) {
                    addText(next, token, from, match - from);
                    next.add(id);
                    next.add(-1);
                    next.add(0);
                    from = match + patternLength;
                }
                addText(next, token, from, end - from);
            }
            fragments = next;
        }
        return joinText(fragments);
    }

    private static void addText(IntBuffer fragments, int kind, int start, int length) {
        if (length > 0) {
            fragments.add(kind);
            fragments.add(start);
            fragments.add(length);
        }
    }

    /** Whether a special token's text is looked for in a fragment of this kind. */
    private static boolean searchable(int kind, boolean control) {
        return kind == NONE || (kind == PLAIN && !control);
    }

    /** Text fragments of either kind that touch become one text fragment. */
    private static IntBuffer joinText(IntBuffer fragments) {
        IntBuffer out = new IntBuffer(fragments.size());
        for (int f = 0; f < fragments.size(); f += 3) {
            int token = fragments.get(f);
            int start = fragments.get(f + 1);
            int length = fragments.get(f + 2);
            boolean text = token == NONE || token == PLAIN;
            int last = out.size() - 3;
            if (text && last >= 0 && out.get(last) == NONE && out.get(last + 1) + out.get(last + 2) == start) {
                out.set(last + 2, out.get(last + 2) + length);
            } else {
                out.add(text ? NONE : token);
                out.add(start);
                out.add(length);
            }
        }
        return out;
    }

    private boolean containsAnywhere(byte[] text, IntBuffer fragments, int patternStart, int patternLength,
                                     boolean control) {
        for (int f = 0; f < fragments.size(); f += 3) {
            if (searchable(fragments.get(f), control)) {
                int start = fragments.get(f + 1);
                if (indexOf(text, start, start + fragments.get(f + 2), patternStart, patternLength) >= 0) {
                    return true;
                }
            }
        }
        return false;
    }

    /** First position of token text {@code textBytes[patternStart, +patternLength)} in {@code text[from, to)}, or -1. */
    private int indexOf(byte[] text, int from, int to, int patternStart, int patternLength) {
        byte first = textBytes[patternStart];
        int last = to - patternLength;
        for (int i = from; i <= last; i++) {
            if (text[i] == first && Arrays.equals(text, i, i + patternLength,
                    textBytes, patternStart, patternStart + patternLength)) {
                return i;
            }
        }
        return -1;
    }
}
