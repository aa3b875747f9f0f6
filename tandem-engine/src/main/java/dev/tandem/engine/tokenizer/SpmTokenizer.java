package dev.tandem.engine.tokenizer;

import dev.tandem.engine.gguf.GgufFile;
import java.util.List;

/**
 * SentencePiece-style tokenizer ({@code tokenizer.ggml.model = llama}), as llama.cpp runs it.
 *
 * <h2>Design</h2>
 * Special tokens are split out first ({@link Vocabulary#partition}). Each remaining text
 * fragment that follows the start of the text or a special token gets a dummy-prefix space
 * (when the vocabulary adds one), every space becomes {@code ▁} (U+2581), and the fragment is
 * cut into UTF-8 characters (by lead byte; a stray byte is a character of its own). Then,
 * greedily, the adjacent pair whose concatenation is the highest-scoring vocabulary token is
 * merged (ties: leftmost), until no adjacent pair forms a token. Each final piece is its token,
 * or, if it is not in the vocabulary (a character the vocabulary lacks), one byte-fallback
 * token {@code <0xNN>} per byte.
 *
 * <p>Differences from llama.cpp, both unreachable with well-formed vocabularies: llama.cpp can
 * also re-split a non-token piece along its recorded merges, but merged pieces are always
 * tokens here and there; and a byte without {@code <0xNN>} or single-byte token becomes the
 * unknown token where llama.cpp throws.
 *
 * <h2>Invariants</h2>
 * Symbols form a doubly linked list over the fragment's bytes; a merged-away symbol has length
 * 0; a queued pair is stale unless both symbols still exist and their lengths add up to the
 * length it was queued with (they start at the same byte, so equal length means equal text).
 *
 * <h2>Concurrency</h2>
 * Immutable; each {@code encode} call works on its own scratch state. Safe for concurrent use.
 *
 * <h2>References</h2>
 * llama.cpp {@code src/llama-vocab.cpp}: {@code llm_tokenizer_spm_session},
 * {@code llama_vocab::impl::tokenize}.
 */
final class SpmTokenizer extends Tokenizer {
    private static final byte[] ESCAPED_SPACE = {(byte) 0xE2, (byte) 0x96, (byte) 0x81};

    /** UTF-8 token text to id. */
    private final SymbolTable lookup;
    /** Token for each byte in byte-fallback: {@code <0xNN>}, else the one-byte token, else unknown. */
    private final int[] byteTokens = new int[256];

    private SpmTokenizer(Vocabulary vocab) {
        super(vocab, Detokenizer.sentencePiece(vocab));
        this.lookup = new SymbolTable(vocab.size(), vocab.textBytes.length);
        for (int id = 0; id < vocab.size(); id++) {
            lookup.put(id, vocab.textBytes, vocab.textStart[id], vocab.textLength(id));
        }
        for (int b = 0; b < 256; b++) {
            byte[] hex = String.format("<0x%02X>", b).getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            int id = lookup.find(hex, 0, hex.length);
            if (id < 0) {
                id = lookup.find(new byte[] {(byte) b}, 0, 1);
            }
            byteTokens[b] = id >= 0 ? id : vocab.unk;
        }
    }

    static SpmTokenizer load(GgufFile gguf) {
        return new SpmTokenizer(Vocabulary.load(gguf, new Vocabulary.Defaults(1, 2, 0, true, true)));
    }

    @Override
    public int[] encode(byte[] text, boolean addSpecial, boolean parseSpecial, List<TextSpan> spans) {
        IntBuffer out = new IntBuffer(text.length / 2 + 4);
        if (addSpecial && vocab.addBos) {
            out.add(vocab.bos);
        }
        IntBuffer fragments = vocab.partition(text, parseSpecial, spans);
        boolean afterSpecial = true; // the start of the text counts as "after a special token"
        MergeQueue queue = new MergeQueue();
        for (int f = 0; f < fragments.size(); f += 3) {
            int token = fragments.get(f);
            if (token == Vocabulary.SPLICED) {
                out.addAll(spans.get(fragments.get(f + 1)).ids());
                afterSpecial = false; // the text goes on after the known ids
            } else if (token != Vocabulary.NONE) {
                out.add(token);
                afterSpecial = true;
            } else {
                byte[] escaped = escape(text, fragments.get(f + 1), fragments.get(f + 2),
                        vocab.addSpacePrefix && afterSpecial);
                encodeFragment(escaped, queue, out);
                afterSpecial = false;
            }
        }
        if (addSpecial && vocab.addEos) {
            out.add(vocab.eos);
        }
        return out.toArray();
    }

    /** The fragment with an optional leading space and every space replaced by {@code ▁}. */
    private static byte[] escape(byte[] text, int start, int length, boolean prefixSpace) {
        int spaces = 0;
        for (int i = start; i < start + length; i++) {
            if (text[i] == ' ') {
                spaces++;
            }
        }
        byte[] out = new byte[(prefixSpace ? 3 : 0) + length + 2 * spaces];
        int at = 0;
        if (prefixSpace) {
            System.arraycopy(ESCAPED_SPACE, 0, out, 0, 3);
            at = 3;
        }
        for (int i = start; i < start + length; i++) {
            if (text[i] == ' ') {
                System.arraycopy(ESCAPED_SPACE, 0, out, at, 3);
                at += 3;
            } else {
                out[at++] = text[i];
            }
        }
        return out;
    }

    private void encodeFragment(byte[] text, MergeQueue queue, IntBuffer out) {
        int n = 0;
        int[] start = new int[text.length];
        int[] length = new int[text.length];
        for (int at = 0; at < text.length; n++) {
            start[n] = at;
            length[n] = Math.min(Utf8.sequenceLength(text[at]), text.length - at);
            at += length[n];
        }
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        queue.clear();
        for (int i = 1; i < n; i++) {
            tryAddPair(text, start, length, i - 1, i, queue);
        }
        while (!queue.isEmpty()) {
            int e = queue.pop();
            int left = queue.left(e);
            int right = queue.right(e);
            if (length[left] == 0 || length[right] == 0 || length[left] + length[right] != queue.size(e)) {
                continue; // stale: one side was merged into something else since
            }
            length[left] += length[right];
            length[right] = 0;
            next[left] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = left;
            }
            tryAddPair(text, start, length, prev[left], left, queue);
            tryAddPair(text, start, length, left, next[left], queue);
        }
        for (int i = 0; n > 0 && i != -1; i = next[i]) {
            int id = lookup.find(text, start[i], length[i]);
            if (id >= 0) {
                out.add(id);
            } else {
                for (int b = start[i]; b < start[i] + length[i]; b++) {
                    out.add(byteTokens[text[b] & 0xFF]);
                }
            }
        }
    }

    private void tryAddPair(byte[] text, int[] start, int[] length, int left, int right, MergeQueue queue) {
        if (left < 0 || right < 0) {
            return;
        }
        int size = length[left] + length[right];
        int id = lookup.find(text, start[left], size);
        if (id >= 0) {
            queue.push(MergeQueue.scoreKey(vocab.scores[id], left), right, size, id);
        }
    }

    @Override
    public String toString() {
        return "SentencePiece tokenizer (" + vocab.size() + " tokens, from " + vocab.source + ")";
    }
}
