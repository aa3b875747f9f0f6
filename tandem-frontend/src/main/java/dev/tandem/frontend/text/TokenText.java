package dev.tandem.frontend.text;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** How a token's bytes are shown in logprobs. Stateless. */
public final class TokenText {
    private TokenText() {
    }

    /**
     * The bytes as text when they are whole UTF-8, otherwise OpenAI's {@code "bytes:\xe2\x80"} form
     * (a token that holds part of a character).
     */
    public static String display(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            StringBuilder sb = new StringBuilder("bytes:");
            for (byte b : bytes) {
                sb.append(String.format("\\x%02x", b & 0xFF));
            }
            return sb.toString();
        }
    }
}
