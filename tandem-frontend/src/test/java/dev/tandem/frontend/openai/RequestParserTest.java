package dev.tandem.frontend.openai;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.engine.tokenizer.ChatMessage;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class RequestParserTest {

    private static CompletionSpec chat(String json) {
        return RequestParser.parse(Endpoint.CHAT, json.getBytes(StandardCharsets.UTF_8));
    }

    private static CompletionSpec completions(String json) {
        return RequestParser.parse(Endpoint.COMPLETIONS, json.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void parse_chatWithEveryField_mapsThem() {
        CompletionSpec s = chat("""
                {"model": "m", "messages": [
                   {"role": "developer", "content": "be brief"},
                   {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                   {"role": "assistant", "content": null}],
                 "max_completion_tokens": 7, "max_tokens": 99, "temperature": 0.5, "top_p": 0.9, "top_k": -1,
                 "min_p": 0.05, "seed": 12345678901, "stop": ["x", "yy"], "presence_penalty": 0.5,
                 "frequency_penalty": -0.5, "repetition_penalty": 1.1, "n": 2, "logprobs": true,
                 "top_logprobs": 3, "stream": true, "stream_options": {"include_usage": true}, "user": "u1",
                 "stop_token_ids": [5], "ignore_eos": true, "unknown": {"nested": [1]}}""");

        assertThat(s.model()).isEqualTo("m");
        assertThat(s.messages()).containsExactly(new ChatMessage("system", "be brief"),
                new ChatMessage("user", "ab"), new ChatMessage("assistant", null));
        assertThat(s.maxTokens()).isEqualTo(7);
        assertThat(s.sampling().temperature()).isEqualTo(0.5f);
        assertThat(s.sampling().topP()).isEqualTo(0.9f);
        assertThat(s.sampling().topK()).isZero();
        assertThat(s.sampling().minP()).isEqualTo(0.05f);
        assertThat(s.sampling().seed()).isEqualTo(12345678901L);
        assertThat(s.sampling().presencePenalty()).isEqualTo(0.5f);
        assertThat(s.sampling().frequencyPenalty()).isEqualTo(-0.5f);
        assertThat(s.sampling().repetitionPenalty()).isEqualTo(1.1f);
        assertThat(s.stop()).containsExactly("x", "yy");
        assertThat(s.n()).isEqualTo(2);
        assertThat(s.topLogprobs()).isEqualTo(3);
        assertThat(s.stream()).isTrue();
        assertThat(s.includeUsage()).isTrue();
        assertThat(s.user()).isEqualTo("u1");
        assertThat(s.stopTokenIds()).containsExactly(5);
        assertThat(s.ignoreEos()).isTrue();
        assertThat(s.choiceCount()).isEqualTo(2);
    }

    @Test
    void parse_chatDefaults_openAiDefaults() {
        CompletionSpec s = chat("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"seed\": null}");

        assertThat(s.model()).isNull();
        assertThat(s.maxTokens()).isNull();
        assertThat(s.sampling().temperature()).isEqualTo(1f);
        assertThat(s.sampling().seed()).isNull();
        assertThat(s.n()).isEqualTo(1);
        assertThat(s.logprobs()).isFalse();
        assertThat(s.stream()).isFalse();
        assertThat(s.includeUsage()).isFalse();
        assertThat(s.stop()).isEmpty();
    }

    @Test
    void parse_includeUsageWithoutStream_ignored() {
        CompletionSpec s = chat("""
                {"messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": true}}""");

        assertThat(s.includeUsage()).isFalse();
    }

    @Test
    void parse_completionsPromptForms() {
        assertThat(completions("{\"prompt\": \"a\"}").prompts()).containsExactly(new Prompt.Text("a"));
        assertThat(completions("{\"prompt\": [\"a\", \"b\"]}").prompts())
                .containsExactly(new Prompt.Text("a"), new Prompt.Text("b"));
        assertThat(completions("{\"prompt\": [1, 2, 3]}").prompts())
                .containsExactly(new Prompt.Tokens(new int[] {1, 2, 3}));
        assertThat(completions("{\"prompt\": [[1], [2, 3.0]]}").prompts())
                .containsExactly(new Prompt.Tokens(new int[] {1}), new Prompt.Tokens(new int[] {2, 3}));
        assertThat(completions("{\"prompt\": \"a\", \"logprobs\": 2}").topLogprobs()).isEqualTo(2);
        assertThat(completions("{\"prompt\": \"a\", \"logprobs\": 0}").topLogprobs()).isZero();
        assertThat(completions("{\"prompt\": \"a\"}").topLogprobs()).isEqualTo(-1);
        assertThat(completions("{\"prompt\": [\"a\", \"b\"], \"n\": 3}").choiceCount()).isEqualTo(6);
    }

    @Test
    void parse_wrongType_namesFieldAndWhatItGot() {
        assertThatThrownBy(() -> chat("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"n\": \"2\"}"))
                .isInstanceOfSatisfying(ApiException.class, e -> {
                    assertThat(e.status()).isEqualTo(400);
                    assertThat(e.param()).isEqualTo("n");
                    assertThat(e.getMessage()).isEqualTo("n must be an integer, got a string \"2\"");
                });
    }

    @Test
    void parse_outOfRange_messageHasRangeAndValue() {
        assertThatThrownBy(() -> chat("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"temperature\": 101}"))
                .isInstanceOfSatisfying(ApiException.class, e -> {
                    assertThat(e.param()).isEqualTo("temperature");
                    assertThat(e.getMessage()).contains("[0, 100]").contains("101");
                });
    }

    @Test
    void parse_badJson_reportsPosition() {
        assertThatThrownBy(() -> chat("{\"messages\": [}"))
                .isInstanceOfSatisfying(ApiException.class, e -> {
                    assertThat(e.status()).isEqualTo(400);
                    assertThat(e.getMessage()).startsWith("The request body is not valid JSON").contains("line 1");
                });
    }

    @Test
    void parse_bestOfEqualToN_accepted_bestOfAboveN_refused() {
        assertThat(completions("{\"prompt\": \"a\", \"best_of\": 2, \"n\": 2}").n()).isEqualTo(2);
        assertThatThrownBy(() -> completions("{\"prompt\": \"a\", \"best_of\": 3}"))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.param()).isEqualTo("best_of"));
    }

    @Test
    void parse_emptyToolsAndTextFormat_accepted() {
        CompletionSpec s = chat("""
                {"messages": [{"role": "user", "content": "x"}], "tools": [], "logit_bias": {},
                 "response_format": {"type": "text"}}""");

        assertThat(s.messages()).hasSize(1);
    }

    @Test
    void parse_tooManyStops_refused() {
        String stops = String.join(",", List.of("\"a\"", "\"b\"", "\"c\"", "\"d\"", "\"e\"", "\"f\"", "\"g\"", "\"h\"",
                "\"i\"", "\"j\"", "\"k\"", "\"l\"", "\"m\"", "\"n\"", "\"o\"", "\"p\"", "\"q\""));
        assertThatThrownBy(() -> completions("{\"prompt\": \"a\", \"stop\": [" + stops + "]}"))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.param()).isEqualTo("stop"));
    }
}
