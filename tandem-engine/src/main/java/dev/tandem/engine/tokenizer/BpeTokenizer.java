package dev.tandem.engine.tokenizer;

import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgufFile;
import java.util.List;
import java.util.Locale;

/**
 * GPT-2-style byte-level BPE tokenizer ({@code tokenizer.ggml.model = gpt2}), as llama.cpp
 * runs it.
 *
 * <h2>Design</h2>
 * <ol>
 *   <li>Special tokens are split out first ({@link Vocabulary#partition}).</li>
 *   <li>Each text fragment is decoded leniently to code points ({@link Utf8#decode}: invalid
 *       bytes become U+FFFD) and split into words by the {@link PreTokenizer} that
 *       {@code tokenizer.ggml.pre} names.</li>
 *   <li>Within each word (re-encoded as UTF-8), every byte starts as its own symbol; then the
 *       adjacent pair with the lowest merge rank is merged (ties: leftmost), until no adjacent
 *       pair has a merge rule. With {@code ignore_merges} (Llama 3) a word that is itself a
 *       token is taken whole.</li>
 * </ol>
 * Symbols are ids, not strings: token ids for strings in the vocabulary and ids past it for
 * strings that merges produce but the vocabulary lacks. Vocabulary texts and merge rules are
 * written in GPT-2's byte alphabet ({@link ByteLevel}); they are mapped back to raw bytes once at
 * load time, so tokenizing works on raw bytes. A final symbol outside the vocabulary falls back
 * to one token per byte where a one-character token exists, as llama.cpp does.
 *
 * <p>Supported {@code tokenizer.ggml.pre} values, with llama.cpp's settings:
 * <pre>
 * gpt-2 phi-2 mpt olmo                        GPT2 splitter,  clean-up of spaces
 * llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral
 *                                             LLAMA3 splitter, clean-up, ignore_merges, add BOS
 * dbrx smaug-bpe                              LLAMA3 splitter, clean-up
 * qwen2 deepseek-r1-qwen                      QWEN2 splitter, no clean-up
 * stablelm2 megrez                            QWEN2 splitter, clean-up
 * </pre>
 * The file's {@code tokenizer.ggml.add_bos_token} overrides the BOS default. A missing or
 * different name is refused with a {@link ModelFormatException}: llama.cpp would fall back to
 * a general regex chain ("default") that Tandem does not implement.
 *
 * <h2>Invariants</h2>
 * As in {@link SpmTokenizer}: symbols form a linked list over the word; merged-away symbols have
 * length 0; a queued pair is stale unless its two symbols still exist with the queued total
 * length.
 *
 * <h2>Concurrency</h2>
 * Immutable; each {@code encode} call has its own scratch state. Safe for concurrent use.
 *
 * <h2>References</h2>
 * llama.cpp {@code src/llama-vocab.cpp}: {@code llm_tokenizer_bpe_session},
 * {@code llama_vocab::impl::load} (pre-tokenizer settings); GPT-2's {@code encoder.py}.
 */
final class BpeTokenizer extends Tokenizer {
    /** How llama.cpp configures one pre-tokenizer name. */
    record Settings(PreTokenizer preTokenizer, boolean cleanSpaces, boolean ignoreMerges, boolean addBos) {
        static Settings forName(String name, String source) {
            PreTokenizer pre = name == null ? null : PreTokenizer.forName(name);
            if (pre == null) {
                throw new ModelFormatException(source + ": unsupported BPE pre-tokenizer "
                        + (name == null ? "(tokenizer.ggml.pre is missing)" : "'" + name + "'")
                        + "; supported: gpt-2, phi-2, mpt, olmo, llama3, llama-v3, llama-bpe, falcon3, falcon-h1,"
                        + " pixtral, dbrx, smaug-bpe, qwen2, deepseek-r1-qwen, stablelm2, megrez");
            }
            String n = name.toLowerCase(Locale.ROOT);
            boolean llama3 = pre == PreTokenizer.LLAMA3 && !n.equals("dbrx") && !n.equals("smaug-bpe");
            boolean clean = !(n.equals("qwen2") || n.equals("deepseek-r1-qwen"));
            return new Settings(pre, clean, llama3, llama3);
        }
    }

    private final Settings settings;
    private final String preName;
    /** Raw bytes to symbol id (tokens, then virtual symbols). */
    private final SymbolTable symbols;
    /** Symbol of each single byte. */
    private final int[] byteSymbol = new int[256];
    private final BpeMerges merges;

    private BpeTokenizer(Vocabulary vocab, Settings settings, String preName, String[] mergeRules) {
        super(vocab, Detokenizer.byteLevel(vocab, settings.cleanSpaces()));
        this.settings = settings;
        this.preName = preName;
        this.symbols = new SymbolTable(vocab.size() + 256, vocab.textBytes.length);
        byte[] scratch = new byte[256];
        for (int id = 0; id < vocab.size(); id++) {
            String text = vocab.texts[id];
            if (scratch.length < text.length()) {
                scratch = new byte[text.length() * 2];
            }
            int n = decodeByteLevel(text, 0, text.length(), scratch, 0);
            if (n >= 0) {
                symbols.put(id, scratch, 0, n);
            } else {
                symbols.reserve(id); // text outside the byte alphabet: only special-token splitting finds it
            }
        }
        for (int b = 0; b < 256; b++) {
            scratch[0] = (byte) b;
            byteSymbol[b] = symbols.findOrAdd(scratch, 0, 1);
        }
        this.merges = loadMerges(mergeRules);
    }

    static BpeTokenizer load(GgufFile gguf) {
        String source = String.valueOf(gguf.path());
        String preName = gguf.string("tokenizer.ggml.pre", null);
        Settings settings = Settings.forName(preName, source);
        String[] mergeRules = gguf.strings("tokenizer.ggml.merges");
        if (mergeRules == null) {
            throw new ModelFormatException(source + ": BPE vocabulary without merges (tokenizer.ggml.merges is missing)");
        }
        // llama.cpp's defaults for BPE: BOS = EOS = 11 when the file names none.
        Vocabulary vocab = Vocabulary.load(gguf, new Vocabulary.Defaults(11, 11, Vocabulary.NONE, settings.addBos(), false));
        return new BpeTokenizer(vocab, settings, preName, mergeRules);
    }

    /**
     * Maps byte-level text {@code text[from, to)} to raw bytes at {@code out[at]}.
     *
     * @return the number of bytes written, or -1 if a character is outside the alphabet
     */
    private static int decodeByteLevel(String text, int from, int to, byte[] out, int at) {
        int n = 0;
        for (int i = from; i < to; ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            int b = ByteLevel.byteOf(cp);
            if (b < 0) {
                return -1;
            }
            out[at + n++] = (byte) b;
        }
        return n;
    }

    /** Merge rule {@code i} is "LEFT RIGHT" (split at the first space after the first character). */
    private BpeMerges loadMerges(String[] rules) {
        BpeMerges table = new BpeMerges(rules.length);
        byte[] scratch = new byte[256];
        for (int rank = 0; rank < rules.length; rank++) {
            String rule = rules[rank];
            int space = rule.indexOf(' ', 1);
            if (space < 0) {
                continue;
            }
            if (scratch.length < 2 * rule.length()) {
                scratch = new byte[4 * rule.length()];
            }
            int leftLength = decodeByteLevel(rule, 0, space, scratch, 0);
            if (leftLength < 0) {
                continue; // can never apply: symbols only hold byte-alphabet text
            }
            int rightLength = decodeByteLevel(rule, space + 1, rule.length(), scratch, leftLength);
            if (rightLength < 0) {
                continue;
            }
            int left = symbols.findOrAdd(scratch, 0, leftLength);
            int right = symbols.findOrAdd(scratch, leftLength, rightLength);
            int merged = symbols.findOrAdd(scratch, 0, leftLength + rightLength);
            table.putIfAbsent(left, right, rank, merged);
        }
        return table;
    }

    @Override
    public int[] encode(byte[] text, boolean addSpecial, boolean parseSpecial, List<TextSpan> spans) {
        IntBuffer out = new IntBuffer(text.length / 3 + 4);
        if (addSpecial && vocab.addBos) {
            out.add(vocab.bos);
        }
        IntBuffer fragments = vocab.partition(text, parseSpecial, spans);
        Scratch scratch = new Scratch();
        for (int f = 0; f < fragments.size(); f += 3) {
            int token = fragments.get(f);
            if (token == Vocabulary.SPLICED) {
                out.addAll(spans.get(fragments.get(f + 1)).ids());
            } else if (token != Vocabulary.NONE) {
                out.add(token);
            } else {
                encodeText(text, fragments.get(f + 1), fragments.get(f + 2), scratch, out);
            }
        }
        if (addSpecial && vocab.addEos) {
            out.add(vocab.eos);
        }
        return out.toArray();
    }

    /** Per-call working memory, grown as needed. */
    private static final class Scratch {
        final MergeQueue queue = new MergeQueue();
        final IntBuffer wordEnds = new IntBuffer(64);
        byte[] word = new byte[64];
        int[] id = new int[64];
        int[] start = new int[64];
        int[] length = new int[64];
        int[] prev = new int[64];
        int[] next = new int[64];

        void ensure(int n) {
            if (word.length < n) {
                int size = Math.max(n, word.length * 2);
                word = new byte[size];
                id = new int[size];
                start = new int[size];
                length = new int[size];
                prev = new int[size];
                next = new int[size];
            }
        }
    }

    private void encodeText(byte[] text, int from, int length, Scratch s, IntBuffer out) {
        int[] cps = Utf8.decode(text, from, from + length);
        s.wordEnds.clear();
        settings.preTokenizer().split(cps, s.wordEnds);
        int wordStart = 0;
        for (int w = 0; w < s.wordEnds.size(); w++) {
            int wordEnd = s.wordEnds.get(w);
            int bytes = 0;
            for (int i = wordStart; i < wordEnd; i++) {
                bytes += Utf8.encodedLength(cps[i]);
            }
            s.ensure(bytes);
            int n = 0;
            for (int i = wordStart; i < wordEnd; i++) {
                n = Utf8.encode(cps[i], s.word, n);
            }
            encodeWord(s, n, out);
            wordStart = wordEnd;
        }
    }

    private void encodeWord(Scratch s, int n, IntBuffer out) {
        if (settings.ignoreMerges()) {
            int whole = symbols.find(s.word, 0, n);
            if (whole >= 0 && whole < vocab.size()) {
                out.add(whole);
                return;
            }
        }
        for (int i = 0; i < n; i++) {
            s.id[i] = byteSymbol[s.word[i] & 0xFF];
            s.start[i] = i;
            s.length[i] = 1;
            s.prev[i] = i - 1;
            s.next[i] = i + 1 < n ? i + 1 : -1;
        }
        MergeQueue queue = s.queue;
        queue.clear();
        for (int i = 1; i < n; i++) {
            addPair(s, i - 1, i);
        }
        while (!queue.isEmpty()) {
            int e = queue.pop();
            int left = queue.left(e);
            int right = queue.right(e);
            if (s.length[left] == 0 || s.length[right] == 0 || s.length[left] + s.length[right] != queue.size(e)) {
                continue; // stale: one side was merged into something else since
            }
            s.id[left] = queue.result(e);
            s.length[left] += s.length[right];
            s.length[right] = 0;
            s.next[left] = s.next[right];
            if (s.next[right] >= 0) {
                s.prev[s.next[right]] = left;
            }
            addPair(s, s.prev[left], left);
            addPair(s, left, s.next[left]);
        }
        for (int i = 0; n > 0 && i != -1; i = s.next[i]) {
            emitSymbol(s, i, out);
        }
    }

    private void addPair(Scratch s, int left, int right) {
        if (left < 0 || right < 0) {
            return;
        }
        int slot = merges.find(s.id[left], s.id[right]);
        if (slot >= 0) {
            s.queue.push(MergeQueue.rankKey(merges.rank(slot), left), right, s.length[left] + s.length[right],
                    merges.result(slot));
        }
    }

    private void emitSymbol(Scratch s, int i, IntBuffer out) {
        int id = s.id[i];
        if (id < vocab.size()) {
            out.add(id);
            return;
        }
        // Not a token: llama.cpp tries each byte of the byte-level text as a one-character
        // token, which only printable ASCII bytes (standing for themselves) can be.
        for (int b = s.start[i]; b < s.start[i] + s.length[i]; b++) {
            int raw = s.word[b] & 0xFF;
            int single = byteSymbol[raw];
            if (raw >= 0x21 && raw <= 0x7E && single < vocab.size()) {
                out.add(single);
            }
        }
    }

    @Override
    public String toString() {
        return "byte-level BPE tokenizer (" + preName + ", " + vocab.size() + " tokens, " + merges.count()
                + " merges, from " + vocab.source + ")";
    }
}
