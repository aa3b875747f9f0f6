package dev.tandem.engine.tokenizer;

import static dev.tandem.engine.tokenizer.UnicodeFlags.isLetter;
import static dev.tandem.engine.tokenizer.UnicodeFlags.isNumber;
import static dev.tandem.engine.tokenizer.UnicodeFlags.isWhitespace;

import java.util.Locale;

/**
 * Splits text into the words that byte-level BPE merges within, as llama.cpp's hand-written
 * splitters do (they stand in for the tokenizers' regular expressions, with llama.cpp's own
 * character classes from {@link UnicodeFlags}).
 *
 * <h2>Design</h2>
 * Each splitter scans code points left to right and, at each position, takes the first
 * alternative that matches, like a regex engine without backtracking into earlier words:
 * <pre>
 * GPT2   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * LLAMA3 (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * QWEN2  the same as LLAMA3 with \p{N} (one digit per word) instead of \p{N}{1,3}
 * </pre>
 * {@code \s+(?!\S)} is a whitespace run followed by more text: it leaves its last whitespace
 * character to the next word, so {@code "  Hello"} splits as {@code " ", " Hello"}. Case
 * folding of contractions is ASCII-only, which is exact: no other code point lowercases to
 * {@code s t r e v m l d}. llama.cpp quirks kept on purpose: in LLAMA3/QWEN2, a space followed
 * by the end of the text takes the punctuation branch (same result as the whitespace branch);
 * in GPT2 the punctuation branch never starts on a space at the end of the text.
 *
 * <h2>Invariants</h2>
 * The word ends returned are strictly increasing and the last equals the text length, so the
 * words concatenate back to the input.
 *
 * <h2>Concurrency</h2>
 * Stateless constants; safe for concurrent use.
 *
 * <h2>References</h2>
 * llama.cpp {@code src/unicode.cpp}: {@code unicode_regex_split_custom_gpt2},
 * {@code unicode_regex_split_custom_llama3}, {@code unicode_regex_split_custom_qwen2};
 * the pre-tokenizer names are {@code llama_vocab::impl::load}'s.
 */
enum PreTokenizer {
    GPT2,
    LLAMA3,
    QWEN2;

    /** "Outside the text": no flags at all, unlike any real code point. */
    private static final int NONE = 0;
    private static final int OUT_OF_RANGE = -1;

    /**
     * Appends to {@code ends} the end position (exclusive) of each word of {@code cps}.
     */
    void split(int[] cps, IntBuffer ends) {
        Scanner s = new Scanner(cps, ends);
        switch (this) {
            case GPT2 -> s.gpt2();
            case LLAMA3 -> s.llama3(3);
            case QWEN2 -> s.llama3(1);
        }
    }

    /** The pre-tokenizer llama.cpp uses for a {@code tokenizer.ggml.pre} name, or null. */
    static PreTokenizer forName(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "gpt-2", "phi-2", "mpt", "olmo" -> GPT2;
            case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "dbrx", "smaug-bpe" -> LLAMA3;
            case "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez" -> QWEN2;
            default -> null;
        };
    }

    /** One pass over one text; the lambdas of the C++ splitters become methods here. */
    private static final class Scanner {
        private final int[] cps;
        private final int end;
        private final IntBuffer ends;

        Scanner(int[] cps, IntBuffer ends) {
            this.cps = cps;
            this.end = cps.length;
            this.ends = ends;
        }

        private int cpt(int pos) {
            return pos >= 0 && pos < end ? cps[pos] : OUT_OF_RANGE;
        }

        private int flags(int pos) {
            return pos >= 0 && pos < end ? UnicodeFlags.of(cps[pos]) : NONE;
        }

        /** Ends the current word at {@code pos} (no-op for an empty word). */
        private void emit(int pos) {
            if (ends.size() == 0 ? pos > 0 : pos > ends.get(ends.size() - 1)) {
                ends.add(pos);
            }
        }

        private static int lower(int cp) {
            return cp >= 'A' && cp <= 'Z' ? cp + ('a' - 'A') : cp;
        }

        /** Length of a contraction at {@code pos} ('s 't 'm 'd 're 've 'll), or 0. */
        private int contraction(int pos, boolean ignoreCase) {
            if (cpt(pos) != '\'' || pos + 1 >= end) {
                return 0;
            }
            int n1 = ignoreCase ? lower(cpt(pos + 1)) : cpt(pos + 1);
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                return 2;
            }
            if (pos + 2 < end) {
                int n2 = ignoreCase ? lower(cpt(pos + 2)) : cpt(pos + 2);
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                    return 3;
                }
            }
            return 0;
        }

        private static boolean other(int f) {
            return !isWhitespace(f) && !isLetter(f) && !isNumber(f);
        }

        void gpt2() {
            int pos = 0;
            while (pos < end) {
                int cp = cpt(pos);
                int c = contraction(pos, false);
                if (c > 0) {
                    pos += c;
                    emit(pos);
                    continue;
                }
                int f2 = cp == ' ' ? flags(pos + 1) : flags(pos);
                if (isLetter(f2) || isNumber(f2) || (other(f2) && f2 != NONE)) {
                    // " ?\p{L}+", " ?\p{N}+" or " ?[^\s\p{L}\p{N}]+": one class, repeated.
                    int kind = isLetter(f2) ? UnicodeFlags.LETTER : isNumber(f2) ? UnicodeFlags.NUMBER : 0;
                    if (cp == ' ') {
                        pos++;
                    }
                    while (kind != 0 ? (f2 & kind) != 0 : other(f2) && f2 != NONE) {
                        f2 = flags(++pos);
                    }
                    emit(pos);
                    continue;
                }
                pos = whitespace(pos, false);
            }
        }

        void llama3(int maxDigits) {
            int pos = 0;
            while (pos < end) {
                int cp = cpt(pos);
                int f = flags(pos);
                int c = contraction(pos, true);
                if (c > 0) {
                    pos += c;
                    emit(pos);
                    continue;
                }
                // [^\r\n\p{L}\p{N}]?\p{L}+
                if (!(cp == '\r' || cp == '\n' || isNumber(f)) && (isLetter(f) || isLetter(flags(pos + 1)))) {
                    pos++;
                    while (isLetter(flags(pos))) {
                        pos++;
                    }
                    emit(pos);
                    continue;
                }
                // \p{N}{1,maxDigits}
                if (isNumber(f)) {
                    int start = pos;
                    while (isNumber(flags(pos)) && pos - start < maxDigits) {
                        pos++;
                    }
                    emit(pos);
                    continue;
                }
                //  ?[^\s\p{L}\p{N}]+[\r\n]*  (llama.cpp tests the first character's flags, never zero here)
                int f2 = cp == ' ' ? flags(pos + 1) : f;
                if (other(f2) && f != NONE) {
                    if (cp == ' ') {
                        pos++;
                    }
                    while (other(f2) && f2 != NONE) {
                        f2 = flags(++pos);
                    }
                    while (cpt(pos) == '\r' || cpt(pos) == '\n') {
                        pos++;
                    }
                    emit(pos);
                    continue;
                }
                pos = whitespace(pos, true);
            }
        }

        /**
         * The whitespace alternatives at {@code pos}: {@code \s*[\r\n]+} (when
         * {@code newlines}), {@code \s+(?!\S)}, {@code \s+}, else one character alone.
         */
        private int whitespace(int pos, boolean newlines) {
            int count = 0;
            int lastNewlineEnd = 0;
            while (isWhitespace(flags(pos + count))) {
                int c2 = cpt(pos + count);
                if (c2 == '\r' || c2 == '\n') {
                    lastNewlineEnd = pos + count + 1;
                }
                count++;
            }
            if (newlines && lastNewlineEnd > 0) {
                pos = lastNewlineEnd;
            } else if (count > 1 && cpt(pos + count) != OUT_OF_RANGE) {
                pos += count - 1;
            } else if (count > 0) {
                pos += count;
            } else {
                pos++;
            }
            emit(pos);
            return pos;
        }
    }
}
