package dev.tandem.engine.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HexFormat;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class Utf8Test {

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "41c3a9e29883809f98, 41 e9 2603 fffd fffd fffd", // stray continuation bytes
        "c0af, 2f",                                       // overlong '/' passes, as in llama.cpp
        "eda080, d800",                                   // surrogate passes
        "e4bd20, fffd fffd 20",                           // truncated: one replacement per byte
        "f09f98, fffd fffd fffd",                         // truncated at the end
        "f09f9880, 1f600",
        "f5808080, fffd",                                 // above U+10FFFF: one replacement
        "fffe, fffd fffd",
    })
    void decode_llamaCppLenientRules_codePoints(String hex, String expected) {
        byte[] bytes = HexFormat.of().parseHex(hex);
        StringBuilder sb = new StringBuilder();
        for (int cp : Utf8.decode(bytes, 0, bytes.length)) {
            sb.append(sb.isEmpty() ? "" : " ").append(Integer.toHexString(cp));
        }
        assertThat(sb.toString()).isEqualTo(expected);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "41, 0", "c3, 1", "c3a9, 0", "e298, 2", "e29883, 0", "f09f98, 3", "f09f9880, 0",
        "80, 0", "c0, 0", "e080, 0", "e0a0, 2", "eda0, 0", "ed9f, 2", "f080, 0", "f490, 0", "f48f, 2", "f5, 0",
        "41c3, 1", "e2c3, 1",
    })
    void incompleteTail_bytes_lengthOfCompletablePrefix(String hex, int expected) {
        byte[] bytes = HexFormat.of().parseHex(hex);
        assertThat(Utf8.incompleteTail(bytes, 0, bytes.length)).isEqualTo(expected);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "41c3a9, Aé", "eda080, \uFFFD\uFFFD\uFFFD", "e0a041, \uFFFDA", "f09f9880, \uD83D\uDE00", "c0af, \uFFFD\uFFFD",
        "e298, \uFFFD",
    })
    void decodeText_malformed_oneReplacementPerMaximalSubpart(String hex, String expected) {
        byte[] bytes = HexFormat.of().parseHex(hex);
        assertThat(Utf8.text(bytes, 0, bytes.length)).isEqualTo(expected);
    }
}
