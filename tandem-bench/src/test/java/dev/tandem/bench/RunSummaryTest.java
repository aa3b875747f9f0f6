package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Aggregates worked by hand; times in ms on a run that starts at 0. */
class RunSummaryTest {
    private static final long MS = 1_000_000L;

    /** A successful request started at {@code startMs} with text chunks at the given absolute ms. */
    private static RequestResult ok(int session, long startMs, long endMs, int prompt, int completion, int cached,
                                    long... chunkMs) {
        long[] chunks = new long[chunkMs.length];
        for (int i = 0; i < chunks.length; i++) {
            chunks[i] = chunkMs[i] * MS;
        }
        return RequestResult.builder(session, 0, startMs * MS).endNs(endMs * MS).chunkNs(chunks)
                .usage(prompt, completion, cached).reply("x").build();
    }

    private static RequestResult failed(int session, String type) {
        return RequestResult.builder(session, 0, 0).endNs(5 * MS).error(type, "boom").build();
    }

    @Test
    void requestResult_chunkTimestamps_giveTtftItlAndTpot() {
        RequestResult r = ok(0, 100, 190, 10, 5, 0, 130, 140, 160, 185);
        assertThat(r.ttftNs()).isEqualTo(30 * MS);
        assertThat(r.itlNs()).containsExactly(10 * MS, 20 * MS, 25 * MS);
        assertThat(r.e2eNs()).isEqualTo(90 * MS);
        // (e2e - ttft) / (completion - 1) = (90 - 30) / 4 = 15 ms; the usage says 5 tokens in 4 chunks
        assertThat(r.tpotNs()).isEqualTo(15.0 * MS);
        assertThat(r.outputTokens()).isEqualTo(5);
    }

    @Test
    void requestResult_noUsage_outputTokensAreChunks() {
        RequestResult r = RequestResult.builder(0, 0, 0).endNs(10 * MS).chunkNs(2 * MS, 4 * MS).build();
        assertThat(r.outputTokens()).isEqualTo(2);
        assertThat(r.cachedTokens()).isEqualTo(-1);
        assertThat(r.tpotNs()).isEqualTo(8.0 * MS);
    }

    @Test
    void requestResult_oneToken_hasNoTpot() {
        assertThat(ok(0, 0, 10, 4, 1, 0, 5).tpotNs()).isEqualTo(-1);
    }

    @Test
    void of_mixedResults_matchesHandComputedAggregate() {
        // A: ttft 10, itl [10, 10], tpot (40-10)/3 = 10, e2e 40, prompt 100 cached 64, 4 tokens
        RequestResult a = ok(0, 0, 40, 100, 4, 64, 10, 20, 30);
        // B: ttft 50, itl [30], tpot (100-50)/1 = 50, e2e 100, prompt 60 cached 0, 2 tokens
        RequestResult b = ok(1, 0, 100, 60, 2, 0, 50, 80);
        // C: ttft 20, no itl, 1 token, prompt 40 with no cached_tokens reported
        RequestResult c = ok(2, 50, 200, 40, 1, -1, 70);
        List<RequestResult> all = List.of(a, b, c, failed(3, "http_429"), failed(4, "http_429"),
                failed(5, RequestResult.TIMEOUT));
        LoadRunner.Outcome outcome = new LoadRunner.Outcome(all, 0, 2_000 * MS, 1);

        RunSummary s = RunSummary.of("c=2", outcome, new Slo(30, 20));
        s.checkInvariants();

        assertThat(s.requests()).isEqualTo(6);
        assertThat(s.succeeded()).isEqualTo(3);
        assertThat(s.failed()).isEqualTo(3);
        assertThat(s.skippedTurns()).isEqualTo(1);
        assertThat(s.errors()).containsExactlyInAnyOrderEntriesOf(java.util.Map.of("http_429", 2, "timeout", 1));
        assertThat(s.durationS()).isEqualTo(2.0);
        assertThat(s.requestsPerS()).isEqualTo(1.5);                  // 3 successes / 2 s
        assertThat(s.outputTokensPerS()).isEqualTo(3.5);              // (4 + 2 + 1) / 2 s
        assertThat(s.promptTokens()).isEqualTo(200);
        // hit rate over requests reporting cached tokens: (64 + 0) / (100 + 60)
        assertThat(s.cacheReported()).isEqualTo(2);
        assertThat(s.cacheHitRate()).isCloseTo(0.4, within(1e-12));
        assertThat(s.ttftMs().count()).isEqualTo(3);
        assertThat(s.ttftMs().p50()).isCloseTo(20, within(1e-9));      // sorted 10 20 50
        assertThat(s.ttftMs().mean()).isCloseTo(80.0 / 3, within(1e-9));
        assertThat(s.itlMs().count()).isEqualTo(3);                   // 10, 10, 30 pooled
        assertThat(s.itlMs().p50()).isCloseTo(10, within(1e-9));
        assertThat(s.itlMs().max()).isCloseTo(30, within(1e-9));
        assertThat(s.tpotMs().count()).isEqualTo(2);                  // C has one token
        assertThat(s.tpotMs().mean()).isCloseTo(30, within(1e-9));    // (10 + 50) / 2
        assertThat(s.e2eMs().p50()).isCloseTo(100, within(1e-9));     // 40 100 150
        // good: A (ttft 10 <= 30, tpot 10 <= 20) and C (ttft 20, one token); not B (ttft 50) nor failures
        assertThat(s.goodputRps()).isCloseTo(1.0, within(1e-12));     // 2 good / 2 s
        assertThat(s.goodFraction()).isCloseTo(2.0 / 6, within(1e-12));
    }

    @Test
    void checkInvariants_errorsDoNotAddUp_throws() {
        RunSummary s = RunSummary.of("x", new LoadRunner.Outcome(List.of(ok(0, 0, 10, 5, 2, 0, 3, 6)), 0, 10 * MS, 0),
                Slo.NONE);
        RunSummary broken = new RunSummary(s.label(), 2, s.succeeded(), 0, s.errors(), s.durationS(), s.requestsPerS(),
                s.outputTokensPerS(), s.promptTokensPerS(), s.promptTokens(), s.outputTokens(), s.cachedTokens(),
                s.cacheReported(), s.cacheHitRate(), s.ttftMs(), s.itlMs(), s.tpotMs(), s.e2eMs(), s.dispatchLagMs(),
                s.slo(), s.goodputRps(), s.goodFraction());
        s.checkInvariants();
        org.assertj.core.api.Assertions.assertThatThrownBy(broken::checkInvariants)
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("!= 2 sent");
    }

    @Test
    void of_onlyTtftLimit_itlNotChecked() {
        RequestResult slowDecode = ok(0, 0, 1_000, 10, 3, 0, 10, 500, 990);
        RunSummary s = RunSummary.of("x", new LoadRunner.Outcome(List.of(slowDecode), 0, 1_000 * MS, 0),
                new Slo(15, Double.NaN));
        assertThat(s.goodFraction()).isEqualTo(1.0);
        RunSummary strict = RunSummary.of("x", new LoadRunner.Outcome(List.of(slowDecode), 0, 1_000 * MS, 0),
                new Slo(15, 100));
        assertThat(strict.goodFraction()).isEqualTo(0.0);             // tpot (1000 - 10) / 2 = 495 ms
    }

    @Test
    void of_noSloNoCacheReports_nullGoodputAndHitRate() {
        RunSummary s = RunSummary.of("x", new LoadRunner.Outcome(List.of(ok(0, 0, 10, 5, 2, -1, 3, 6)), 0, 10 * MS, 0),
                Slo.NONE);
        assertThat(s.goodputRps()).isNull();
        assertThat(s.goodFraction()).isNull();
        assertThat(s.cacheHitRate()).isNull();
    }
}
