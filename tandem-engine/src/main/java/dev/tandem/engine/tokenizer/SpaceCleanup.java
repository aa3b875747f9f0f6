package dev.tandem.engine.tokenizer;

/**
 * The clean-up llama.cpp applies to detokenized text when the vocabulary asks for it (GPT-2's
 * {@code clean_up_tokenization_spaces}), as a streaming filter over bytes.
 *
 * <h2>Design</h2>
 * llama.cpp rewrites the whole text in three passes, each reading the previous one's output:
 * <ol>
 *   <li>{@code " ?" " !" " ." " ,"} lose the space;</li>
 *   <li>an apostrophe with a space on both sides loses both spaces; the space after it is
 *       consumed and does not count as a space for the next character;</li>
 *   <li>{@code " 's" " 'm" " 're" " 've"} lose the space ({@code " 't" " 'd" " 'll"} keep
 *       it).</li>
 * </ol>
 * Each pass decides about a space only after seeing at most three more characters, so each
 * becomes a small state machine that holds back those characters ({@code stage1}..
 * {@code stage3} below) and the stages are chained. Feeding a whole text and then calling
 * {@link #finish} gives exactly the three-pass result, and so does feeding it in any pieces:
 * the streaming decoder and full decoding share this code. All held characters are ASCII, so
 * holding never splits a UTF-8 character.
 *
 * <h2>Invariants</h2>
 * At most five bytes are held at any time (one in stage 1, two in stage 2, three in stage 3
 * minus overlap); {@link #finish} releases them all and resets the filter.
 *
 * <h2>Concurrency</h2>
 * Owned by one thread (one per decode call or per stream).
 *
 * <h2>References</h2>
 * llama.cpp {@code llama_vocab::impl::detokenize} ({@code clean_spaces} branch).
 */
final class SpaceCleanup {
    /** Stage 1 holds a space until the next character is known. */
    private boolean stage1Space;
    /** Stage 2: 0 nothing held, 1 holds " ", 2 holds " '". */
    private int stage2;
    /** Stage 3: 0 nothing held, 1 " ", 2 " '", 3 " 'r", 4 " 'v". */
    private int stage3;

    void push(byte b, Bytes out) {
        if (stage1Space) {
            stage1Space = false;
            if (b != '?' && b != '!' && b != '.' && b != ',') {
                stage2((byte) ' ', out);
            }
        }
        if (b == ' ') {
            stage1Space = true;
        } else {
            stage2(b, out);
        }
    }

    void push(byte[] src, int off, int len, Bytes out) {
        for (int i = off; i < off + len; i++) {
            push(src[i], out);
        }
    }

    /** Releases every held byte, as at the end of the text. */
    void finish(Bytes out) {
        if (stage1Space) {
            stage1Space = false;
            stage2((byte) ' ', out);
        }
        if (stage2 >= 1) {
            stage3((byte) ' ', out);
        }
        if (stage2 == 2) {
            stage3((byte) '\'', out);
        }
        stage2 = 0;
        switch (stage3) {
            case 1 -> out.add((byte) ' ');
            case 2 -> emit(out, ' ', '\'');
            case 3 -> emit(out, ' ', '\'', 'r');
            case 4 -> emit(out, ' ', '\'', 'v');
            default -> { }
        }
        stage3 = 0;
    }

    private void stage2(byte b, Bytes out) {
        switch (stage2) {
            case 1 -> {
                if (b == '\'') {
                    stage2 = 2;
                    return;
                }
                stage3((byte) ' ', out);
                if (b != ' ') {
                    stage2 = 0;
                    stage3(b, out);
                }
            }
            case 2 -> {
                stage2 = 0;
                if (b == ' ') {
                    stage3((byte) '\'', out); // " ' " -> "'": both spaces go
                    return;
                }
                stage3((byte) ' ', out);
                stage3((byte) '\'', out);
                stage2Fresh(b, out);
            }
            default -> stage2Fresh(b, out);
        }
    }

    private void stage2Fresh(byte b, Bytes out) {
        if (b == ' ') {
            stage2 = 1;
        } else {
            stage3(b, out);
        }
    }

    private void stage3(byte b, Bytes out) {
        switch (stage3) {
            case 1 -> {
                if (b == '\'') {
                    stage3 = 2;
                    return;
                }
                out.add((byte) ' ');
                if (b != ' ') {
                    stage3 = 0;
                    out.add(b);
                }
            }
            case 2 -> {
                if (b == 's' || b == 'm') {
                    stage3 = 0;
                    emit(out, '\'', b);
                } else if (b == 'r' || b == 'v') {
                    stage3 = b == 'r' ? 3 : 4;
                } else {
                    stage3 = 0;
                    emit(out, ' ', '\'');
                    stage3Fresh(b, out);
                }
            }
            case 3, 4 -> {
                char held = stage3 == 3 ? 'r' : 'v';
                stage3 = 0;
                if (b == 'e') {
                    emit(out, '\'', held, 'e');
                } else {
                    emit(out, ' ', '\'', held);
                    stage3Fresh(b, out);
                }
            }
            default -> stage3Fresh(b, out);
        }
    }

    private void stage3Fresh(byte b, Bytes out) {
        if (b == ' ') {
            stage3 = 1;
        } else {
            out.add(b);
        }
    }

    private static void emit(Bytes out, int a, int b) {
        out.add((byte) a);
        out.add((byte) b);
    }

    private static void emit(Bytes out, int a, int b, int c) {
        out.add((byte) a);
        out.add((byte) b);
        out.add((byte) c);
    }
}
