package dev.tandem.engine.tokenizer;

import java.util.Arrays;

/**
 * GPT-2's byte-level alphabet: every byte gets a printable code point, so that byte-level BPE
 * vocabularies and merges can be stored as text. Bytes {@code 0x21..0x7E}, {@code 0xA1..0xAC}
 * and {@code 0xAE..0xFF} stand for themselves; the other 68 bytes, in increasing order, get
 * U+0100, U+0101, ... (space 0x20 is U+0120 'Ġ', newline 0x0A is U+010A 'Ċ').
 *
 * <p>Thread ownership: immutable tables; safe for concurrent use.
 */
final class ByteLevel {
    /** Code point standing for each byte. */
    private static final int[] BYTE_TO_CP = new int[256];
    /** Byte for each code point below 0x144, or -1. */
    private static final int[] CP_TO_BYTE = new int[0x144];

    static {
        Arrays.fill(CP_TO_BYTE, -1);
        int next = 0x100;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            int cp = printable ? b : next++;
            BYTE_TO_CP[b] = cp;
            CP_TO_BYTE[cp] = b;
        }
    }

    private ByteLevel() {
    }

    static int codePointOf(int b) {
        return BYTE_TO_CP[b & 0xFF];
    }

    /** The byte a code point stands for, or -1 if it is not in the alphabet. */
    static int byteOf(int cp) {
        return cp >= 0 && cp < CP_TO_BYTE.length ? CP_TO_BYTE[cp] : -1;
    }

    /**
     * The bytes a byte-level text stands for, or null if some character is outside the alphabet.
     */
    static byte[] decodeOrNull(String text) {
        byte[] out = new byte[text.length()];
        int n = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            int b = byteOf(cp);
            if (b < 0) {
                return null;
            }
            out[n++] = (byte) b;
        }
        return n == out.length ? out : Arrays.copyOf(out, n);
    }

    /** The byte-level text standing for {@code bytes}. */
    static String encode(byte[] bytes) {
        StringBuilder sb = new StringBuilder(bytes.length);
        for (byte b : bytes) {
            sb.appendCodePoint(codePointOf(b));
        }
        return sb.toString();
    }
}
