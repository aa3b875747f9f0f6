package dev.tandem.frontend;

import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.frontend.text.TextModel;
import dev.tandem.frontend.text.TokenText;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A byte-level test tokenizer: id 0 is BOS, 1 is EOS, ids 2..257 are the bytes 0..255 (so every
 * multi-byte character spans several tokens). Chat template: {@code <|role|>\ncontent\n} per
 * message, then {@code <|assistant|>\n}.
 */
final class ByteTextModel implements TextModel {
    static final int BOS = 0;
    static final int EOS = 1;
    static final int BYTE_BASE = 2;

    static int tokenOf(int unsignedByte) {
        return BYTE_BASE + unsignedByte;
    }

    static String render(List<ChatMessage> messages) {
        StringBuilder sb = new StringBuilder();
        for (ChatMessage m : messages) {
            sb.append("<|").append(m.role()).append("|>\n").append(m.content() == null ? "" : m.content()).append('\n');
        }
        return sb.append("<|assistant|>\n").toString();
    }

    @Override
    public int[] encodeChat(List<ChatMessage> messages) {
        return encodePrompt(render(messages));
    }

    @Override
    public int[] encodePrompt(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length + 1];
        ids[0] = BOS;
        for (int i = 0; i < bytes.length; i++) {
            ids[i + 1] = tokenOf(bytes[i] & 0xFF);
        }
        return ids;
    }

    @Override
    public byte[] tokenBytes(int tokenId) {
        if (tokenId < BYTE_BASE || tokenId >= vocabSize()) {
            return new byte[0];
        }
        return new byte[] {(byte) (tokenId - BYTE_BASE)};
    }

    @Override
    public String tokenText(int tokenId) {
        return switch (tokenId) {
            case BOS -> "<s>";
            case EOS -> "</s>";
            default -> TokenText.display(tokenBytes(tokenId));
        };
    }

    @Override
    public int vocabSize() {
        return BYTE_BASE + 256;
    }
}
