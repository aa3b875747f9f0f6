package dev.tandem.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.runtime.rpc.FakeEngine;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class PrefillFallbackTest {
    private final FakeEngine engine = new FakeEngine(1);
    private final GenerateRequest local = GenerateRequest.greedy("req-1", new int[] {1, 2, 3, 4, 5}, 3);

    @AfterEach
    void close() {
        engine.close();
    }

    @Test
    void prefillLocally_notEnforced_theDecodeWorkerRunsTheWholeRequest() throws Exception {
        RecordingSink sink = new RecordingSink();

        RequestHandle h = PrefillFallback.prefillLocally(local, "the pull failed", false, engine, "d1", sink, () -> false);

        assertThat(h).isNotNull();
        assertThat(sink.awaitDone(10_000)).isTrue();
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        assertThat(sink.tokenCount()).isEqualTo(3);
    }

    @Test
    void prefillLocally_enforced_failsUnavailableSayingWhyAndRunsNothing() {
        RecordingSink sink = new RecordingSink();

        RequestHandle h = PrefillFallback.prefillLocally(local, "prefill worker p1 did not answer within 500 ms", true,
                engine, "d1", sink, () -> false);

        assertThat(h).isNull();
        assertThat(sink.error).isInstanceOfSatisfying(RequestException.class,
                e -> assertThat(e.kind()).isEqualTo(RequestException.Kind.UNAVAILABLE))
                .hasMessageContaining("[req=req-1] remote prefill is enforced (--enforce-disagg) and prefill worker p1 "
                        + "did not answer within 500 ms");
        assertThat(engine.load().runningSequences()).isZero();
    }

    @Test
    void prefillLocally_cancelledMeanwhile_finishesCancelledWithoutSubmitting() {
        RecordingSink sink = new RecordingSink();

        RequestHandle h = PrefillFallback.prefillLocally(local, "no room", false, engine, "d1", sink, () -> true);

        assertThat(h).isNull();
        assertThat(sink.reason).isEqualTo(FinishReason.CANCELLED);
        assertThat(sink.usage.promptTokens()).isEqualTo(5);
        assertThat(sink.usage.completionTokens()).isZero();
        assertThat(sink.terminalCalls).isEqualTo(1);
    }

    @Test
    void prefillLocally_engineRefuses_theRefusalReachesTheSinkOnce() {
        RecordingSink sink = new RecordingSink();
        GenerateRequest bad = GenerateRequest.greedy("req-2", new int[] {-1, 2}, 3);

        RequestHandle h = PrefillFallback.prefillLocally(bad, "no room", false, engine, "d1", sink, () -> false);

        assertThat(h).isNull();
        assertThat(sink.error).isInstanceOfSatisfying(RequestException.class,
                e -> assertThat(e.kind()).isEqualTo(RequestException.Kind.INVALID));
        assertThat(sink.terminalCalls).isEqualTo(1);
    }
}
