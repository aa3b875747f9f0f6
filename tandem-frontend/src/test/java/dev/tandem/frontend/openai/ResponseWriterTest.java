package dev.tandem.frontend.openai;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.GeneratedToken;
import dev.tandem.core.Usage;
import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.frontend.text.TextModel;
import dev.tandem.frontend.text.TokenText;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class ResponseWriterTest {
    /** Token id = one byte. */
    private static final TextModel BYTES = new TextModel() {
        @Override
        public int[] encodeChat(List<ChatMessage> messages) {
            return new int[] {1};
        }

        @Override
        public int[] encodePrompt(String text) {
            return new int[] {1};
        }

        @Override
        public byte[] tokenBytes(int tokenId) {
            return new byte[] {(byte) tokenId};
        }

        @Override
        public String tokenText(int tokenId) {
            return TokenText.display(tokenBytes(tokenId));
        }

        @Override
        public int vocabSize() {
            return 256;
        }
    };

    @Test
    void chunk_chatFirstToken_exactSseFrame() throws Exception {
        ResponseWriter w = new ResponseWriter(Endpoint.CHAT, "chatcmpl-1", 1700000000L, "m", BYTES, false);
        ByteArrayOutputStream out = new ByteArrayOutputStream();

        w.chunk(out, 0, true, "Hé\n\"", List.of(), null, List.of(), -1, null);

        assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("data: {\"id\":\"chatcmpl-1\",\"object\":"
                + "\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\",\"choices\":[{\"index\":0,"
                + "\"delta\":{\"role\":\"assistant\",\"content\":\"Hé\\n\\\"\"},\"logprobs\":null,"
                + "\"finish_reason\":null}]}\n\n");
    }

    @Test
    void chunk_lastChunkWithUsageNull_hasFinishReasonAndEmptyDelta() throws Exception {
        ResponseWriter w = new ResponseWriter(Endpoint.CHAT, "c", 1L, "m", BYTES, true);
        ByteArrayOutputStream out = new ByteArrayOutputStream();

        w.chunk(out, 2, false, "", List.of(), null, List.of(), -1, "stop");

        assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("data: {\"id\":\"c\",\"object\":"
                + "\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":2,\"delta\":{},"
                + "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n");
    }

    @Test
    void usageChunkAndDone_exactFrames() throws Exception {
        ResponseWriter w = new ResponseWriter(Endpoint.COMPLETIONS, "cmpl-9", 5L, "m", BYTES, true);
        ByteArrayOutputStream out = new ByteArrayOutputStream();

        w.usageChunk(out, new Usage(10, 4, 0, 3));
        ResponseWriter.done(out);

        assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("data: {\"id\":\"cmpl-9\",\"object\":"
                + "\"text_completion\",\"created\":5,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,"
                + "\"completion_tokens\":3,\"total_tokens\":13,\"prompt_tokens_details\":{\"cached_tokens\":4}}}\n\n"
                + "data: [DONE]\n\n");
    }

    @Test
    void chunk_chatLogprobs_tokenBytesAndPartialCharacter() throws Exception {
        ResponseWriter w = new ResponseWriter(Endpoint.CHAT, "c", 1L, "m", BYTES, false);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        GeneratedToken t = new GeneratedToken(0xE2, -0.5f, new int[] {0xE2, 'a'}, new float[] {-0.5f,
            Float.NEGATIVE_INFINITY});

        w.chunk(out, 0, false, "", List.of(), List.of(t), List.of(0), 1, null);

        assertThat(out.toString(StandardCharsets.UTF_8)).contains("\"logprobs\":{\"content\":[{\"token\":"
                + "\"bytes:\\\\xe2\",\"logprob\":-0.5,\"bytes\":[226],\"top_logprobs\":[{\"token\":\"bytes:\\\\xe2\","
                + "\"logprob\":-0.5,\"bytes\":[226]}]}],\"refusal\":null}");
    }

    @Test
    void response_completionsLogprobs_legacyShape() {
        ResponseWriter w = new ResponseWriter(Endpoint.COMPLETIONS, "cmpl-1", 1L, "m", BYTES, false);
        GeneratedToken a = new GeneratedToken('a', -0.1f, new int[] {'a', 'b'}, new float[] {-0.1f, -3f});
        GeneratedToken b = new GeneratedToken('b', Float.NEGATIVE_INFINITY, new int[] {'c', 'b'},
                new float[] {-0.2f, Float.NEGATIVE_INFINITY});

        String json = new String(w.response(List.of(new ChoiceResult(0, "ab", List.of(), "length", List.of(a, b), List.of(0, 1))),
                2, new Usage(3, 0, 0, 2)), StandardCharsets.UTF_8);

        assertThat(json).isEqualTo("{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\","
                + "\"choices\":[{\"index\":0,\"text\":\"ab\",\"logprobs\":{\"tokens\":[\"a\",\"b\"],"
                + "\"token_logprobs\":[-0.10000000149011612,-9999.0],\"top_logprobs\":[{\"a\":-0.10000000149011612,"
                + "\"b\":-3.0},{\"c\":-0.20000000298023224,\"b\":-9999.0}],\"text_offset\":[0,1]},"
                + "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,"
                + "\"total_tokens\":5,\"prompt_tokens_details\":{\"cached_tokens\":0}}}");
    }

    @Test
    void errorBody_openAiShape() {
        String json = new String(ResponseWriter.errorBody(ApiException.invalid("n", "n must be ...")),
                StandardCharsets.UTF_8);

        assertThat(json).isEqualTo("{\"error\":{\"message\":\"n must be ...\",\"type\":\"invalid_request_error\","
                + "\"param\":\"n\",\"code\":null}}");
    }

    @Test
    void from_requestExceptionKinds_mapToStatuses() {
        var kinds = dev.tandem.core.RequestException.Kind.values();
        for (var kind : kinds) {
            int status = ApiException.from(new dev.tandem.core.RequestException(kind, "x")).status();
            assertThat(status).as(kind.name()).isEqualTo(switch (kind) {
                case INVALID -> 400;
                case UNAVAILABLE, CANCELLED, TIMEOUT, WORKER_LOST -> 503;
                case OVERLOADED -> 429;
                case INTERNAL -> 500;
            });
        }
    }
}
