package dev.tandem.engine.tokenizer;

/**
 * UTF-8 as llama.cpp reads and writes it, which is more lenient than {@link java.nio.charset}.
 *
 * <p>Reading ({@link #decode}): a lead byte announces the length (0xxxxxxx 1, 110xxxxx 2,
 * 1110xxxx 3, 11110xxx 4); if the announced continuation bytes (10xxxxxx) are all present the
 * value is assembled without further checks, so overlong forms ({@code C0 AF} is {@code '/'})
 * and surrogates ({@code ED A0 80} is U+D800) pass. Anything else (a stray continuation byte, a
 * truncated sequence, {@code F8..FF}) yields U+FFFD and consumes one byte. One deviation: a
 * 4-byte form above U+10FFFF (lead {@code F5..F7}) also yields U+FFFD, consuming its four
 * bytes, where llama.cpp would fail later on re-encoding it.
 *
 * <p>Writing ({@link #encode}) is the standard encoding, surrogates included (3 bytes).
 *
 * <p>Thread ownership: stateless; safe for concurrent use.
 */
final class Utf8 {
    static final int REPLACEMENT = 0xFFFD;

    private Utf8() {
    }

    /** Bytes announced by a lead byte, by its high nibble (llama.cpp's {@code unicode_len_utf8}). */
    static int sequenceLength(byte lead) {
        int hi = (lead & 0xFF) >>> 4;
        if (hi < 0xC) {
            return 1;
        }
        return hi < 0xE ? 2 : hi == 0xE ? 3 : 4;
    }

    /**
     * Decodes {@code bytes[from, to)} into code points.
     *
     * @return the code points, one per decoded character
     */
    static int[] decode(byte[] bytes, int from, int to) {
        int[] out = new int[to - from];
        int n = 0;
        int i = from;
        while (i < to) {
            int b0 = bytes[i] & 0xFF;
            int cp;
            int len;
            if ((b0 & 0x80) == 0) {
                cp = b0;
                len = 1;
            } else if ((b0 & 0x40) == 0) {
                cp = -1;
                len = 1;
            } else if ((b0 & 0x20) == 0) {
                len = 2;
                cp = continued(bytes, i, to, len) ? ((b0 & 0x1F) << 6) | (bytes[i + 1] & 0x3F) : -1;
            } else if ((b0 & 0x10) == 0) {
                len = 3;
                cp = continued(bytes, i, to, len)
                        ? ((b0 & 0x0F) << 12) | ((bytes[i + 1] & 0x3F) << 6) | (bytes[i + 2] & 0x3F) : -1;
            } else if ((b0 & 0x08) == 0) {
                len = 4;
                cp = continued(bytes, i, to, len)
                        ? ((b0 & 0x07) << 18) | ((bytes[i + 1] & 0x3F) << 12) | ((bytes[i + 2] & 0x3F) << 6)
                        | (bytes[i + 3] & 0x3F) : -1;
                if (cp > Character.MAX_CODE_POINT) {
                    cp = REPLACEMENT;
                }
            } else {
                cp = -1;
                len = 1;
            }
            if (cp < 0) {
                cp = REPLACEMENT;
                len = 1;
            }
            out[n++] = cp;
            i += len;
        }
        return n == out.length ? out : java.util.Arrays.copyOf(out, n);
    }

    private static boolean continued(byte[] bytes, int i, int to, int len) {
        if (i + len > to) {
            return false;
        }
        for (int k = 1; k < len; k++) {
            if ((bytes[i + k] & 0xC0) != 0x80) {
                return false;
            }
        }
        return true;
    }

    /** Bytes needed to encode {@code cp}. */
    static int encodedLength(int cp) {
        return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    }

    /** Writes {@code cp} at {@code out[at]} and returns the position after it. */
    static int encode(int cp, byte[] out, int at) {
        if (cp < 0x80) {
            out[at++] = (byte) cp;
        } else if (cp < 0x800) {
            out[at++] = (byte) (0xC0 | (cp >> 6));
            out[at++] = (byte) (0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[at++] = (byte) (0xE0 | (cp >> 12));
            out[at++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
            out[at++] = (byte) (0x80 | (cp & 0x3F));
        } else {
            out[at++] = (byte) (0xF0 | (cp >> 18));
            out[at++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
            out[at++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
            out[at++] = (byte) (0x80 | (cp & 0x3F));
        }
        return at;
    }

    /**
     * How many bytes at the end of {@code bytes[from, to)} are the start of a UTF-8 character
     * that more bytes could still complete (0 if the text ends on a boundary or in bytes that
     * no continuation could make valid). A strict check: {@code E0} needs {@code A0..BF} next,
     * {@code ED} needs {@code 80..9F}, {@code F0} needs {@code 90..BF}, {@code F4} needs
     * {@code 80..8F}; {@code C0, C1, F5..FF} never start a valid character.
     */
    static int incompleteTail(byte[] bytes, int from, int to) {
        // A valid incomplete tail is at most 3 bytes long: look for its lead byte.
        for (int back = 1; back <= 3 && to - back >= from; back++) {
            int b = bytes[to - back] & 0xFF;
            if ((b & 0xC0) == 0x80) {
                continue; // a continuation byte: the lead is further back
            }
            int need = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
            if (need <= back) {
                return 0; // complete, or not a lead byte at all
            }
            if (back >= 2 && !validSecond(b, bytes[to - back + 1] & 0xFF)) {
                return 0;
            }
            return back;
        }
        return 0;
    }

    /**
     * Decodes {@code bytes[from, from+length)} as text into {@code chars} (at least
     * {@code length} long) and returns the number of chars written. Malformed input becomes
     * U+FFFD once per maximal subpart (the Unicode and WHATWG practice: a valid lead byte and the
     * continuation bytes that can still follow it, or one invalid byte), so text decoded in
     * pieces split where {@link #incompleteTail} allows decodes exactly as it would whole.
     */
    static int decodeText(byte[] bytes, int from, int length, char[] chars) {
        int n = 0;
        int i = from;
        int end = from + length;
        while (i < end) {
            int b0 = bytes[i] & 0xFF;
            if (b0 < 0x80) {
                chars[n++] = (char) b0;
                i++;
                continue;
            }
            int need = b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3 : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
            if (need == 0) {
                chars[n++] = (char) REPLACEMENT;
                i++;
                continue;
            }
            int cp = b0 & (0xFF >> (need + 1));
            int k = 1;
            while (k < need && i + k < end) {
                int b = bytes[i + k] & 0xFF;
                if (k == 1 ? !validSecond(b0, b) : (b & 0xC0) != 0x80) {
                    break;
                }
                cp = (cp << 6) | (b & 0x3F);
                k++;
            }
            if (k < need) {
                chars[n++] = (char) REPLACEMENT; // the maximal subpart bytes[i, i+k)
            } else if (cp >= 0x10000) {
                chars[n++] = Character.highSurrogate(cp);
                chars[n++] = Character.lowSurrogate(cp);
            } else {
                chars[n++] = (char) cp;
            }
            i += k;
        }
        return n;
    }

    /** {@link #decodeText} as a string. */
    static String text(byte[] bytes, int from, int length) {
        char[] chars = new char[length];
        return new String(chars, 0, decodeText(bytes, from, length, chars));
    }

    private static boolean validSecond(int lead, int second) {
        return switch (lead) {
            case 0xE0 -> second >= 0xA0 && second <= 0xBF;
            case 0xED -> second >= 0x80 && second <= 0x9F;
            case 0xF0 -> second >= 0x90 && second <= 0xBF;
            case 0xF4 -> second >= 0x80 && second <= 0x8F;
            default -> (second & 0xC0) == 0x80;
        };
    }
}
