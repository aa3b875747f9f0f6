package dev.tandem.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class GenerateRequestTest {
    private static final KvLayout LAYOUT = new KvLayout(4, 2, 1, 8, KvDtype.F16);

    private static KvHandle handle(int promptTokens) {
        int blocks = (promptTokens + 3) / 4;
        return new KvHandle(9, "p1", List.of(new TransferEndpoint(TransferKind.TCP, "", "127.0.0.1:7000")),
                new int[blocks], new long[blocks], promptTokens, LAYOUT, Long.MAX_VALUE);
    }

    private static RemotePrefill prefill(int promptTokens) {
        return new RemotePrefill(GeneratedToken.of(5), handle(promptTokens), "127.0.0.1:9000", false);
    }

    @Test
    void constructor_promptArray_copiedInAndOut() {
        int[] prompt = {1, 2, 3};
        GenerateRequest r = GenerateRequest.greedy("r", prompt, 4);
        prompt[0] = 99;
        r.promptTokens()[1] = 99;

        assertThat(r.promptTokens()).containsExactly(1, 2, 3);
        assertThat(r.promptToken(1)).isEqualTo(2);
        assertThat(r.promptLength()).isEqualTo(3);
    }

    @Test
    void constructor_badValues_invalidNamingTheParameter() {
        assertThatThrownBy(() -> GenerateRequest.greedy("r", new int[0], 4))
                .isInstanceOfSatisfying(RequestException.class, e -> assertThat(e.param()).isEqualTo("prompt"));
        assertThatThrownBy(() -> GenerateRequest.greedy("r", new int[] {1}, 0))
                .isInstanceOfSatisfying(RequestException.class, e -> assertThat(e.param()).isEqualTo("max_tokens"))
                .hasMessageContaining("got 0");
        assertThatThrownBy(() -> new GenerateRequest("r", new int[] {1}, SamplingParams.GREEDY, 1, null, false, 21))
                .isInstanceOfSatisfying(RequestException.class, e -> assertThat(e.param()).isEqualTo("top_logprobs"));
        assertThatThrownBy(() -> new GenerateRequest(null, new int[] {1}, SamplingParams.GREEDY, 1, null, false, -1))
                .isInstanceOf(NullPointerException.class).hasMessageContaining("requestId");
    }

    @Test
    void withRemotePrefill_handleForAnotherPromptLength_refused() {
        GenerateRequest r = GenerateRequest.greedy("r", new int[] {1, 2, 3, 4, 5}, 8);

        assertThat(r.withRemotePrefill(prefill(5)).remotePrefill().handle().promptTokens()).isEqualTo(5);
        assertThatThrownBy(() -> r.withRemotePrefill(prefill(4)))
                .isInstanceOf(RequestException.class).hasMessageContaining("covers 4 prompt tokens, the prompt has 5");
    }

    @Test
    void withMaxTokens_keepsEverythingElse_andWithoutRemotePrefillDropsOnlyThePrefill() {
        GenerateRequest r = new GenerateRequest("r", new int[] {1, 2, 3, 4, 5}, SamplingParams.GREEDY.withTemperature(0.7f),
                8, new int[] {42}, true, 2).withConstraint(OutputConstraint.jsonSchema(OutputConstraint.ANY_OBJECT_SCHEMA))
                .withRemotePrefill(prefill(5));

        GenerateRequest one = r.withMaxTokens(1);
        GenerateRequest local = r.withoutRemotePrefill();

        assertThat(one.maxTokens()).isEqualTo(1);
        assertThat(one.withMaxTokens(8)).isEqualTo(r);
        assertThat(local.remotePrefill()).isNull();
        assertThat(local.withRemotePrefill(r.remotePrefill())).isEqualTo(r);
        assertThat(local.withoutRemotePrefill()).isSameAs(local);
        assertThat(local.isStopToken(42)).isTrue();
        assertThat(local.isStopToken(41)).isFalse();
        assertThat(local.constraint()).isEqualTo(r.constraint());
    }

    @Test
    void continueWith_migratedConstrainedRequest_replaysTheTokensGeneratedSoFar() {
        GenerateRequest r = GenerateRequest.greedy("r", new int[] {1, 2, 3}, 10)
                .withConstraint(OutputConstraint.jsonSchema(OutputConstraint.ANY_OBJECT_SCHEMA))
                .withRemotePrefill(prefill(3));

        GenerateRequest next = r.continueWith("r-2", new int[] {1, 2, 3, 7, 8}, 8);
        GenerateRequest again = next.continueWith("r-3", new int[] {1, 2, 3, 7, 8, 9}, 7);

        assertThat(next.requestId()).isEqualTo("r-2");
        assertThat(next.remotePrefill()).as("the new worker prefills itself").isNull();
        assertThat(next.constraint().replayedTokens()).isEqualTo(2);
        assertThat(again.constraint().replayedTokens()).isEqualTo(3);
        assertThat(again.maxTokens()).isEqualTo(7);
    }

    @Test
    void withConstraint_replayingTheWholePrompt_refused() {
        GenerateRequest r = GenerateRequest.greedy("r", new int[] {1, 2}, 4);

        assertThatThrownBy(() -> r.withConstraint(OutputConstraint.jsonSchema(OutputConstraint.ANY_OBJECT_SCHEMA)
                .withReplayedTokens(2))).isInstanceOfSatisfying(RequestException.class,
                        e -> assertThat(e.param()).isEqualTo("response_format"));
    }
}
