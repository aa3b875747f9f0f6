package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.core.ConfigException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** bench compare against stand-in servers started as real child JVMs. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class CompareBenchTest {
    private static ServerLauncher fakeServe() {
        return new ServerLauncher(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
                FakeServeMain.class.getName()));
    }

    private static CompareBench.Settings settings(List<ServeConfiguration> configs, Path logs) {
        return settings(configs, 1, 0, logs);
    }

    private static CompareBench.Settings settings(List<ServeConfiguration> configs, int rounds, int warmup, Path logs) {
        return new CompareBench.Settings(fakeServe(), List.of("--model", "x"), true, "x (mock engines: simulation)",
                4, 1, 1, configs, rounds, new ConversationWorkload(3, 3, 5, 0, 4, 0), new ArrivalMode.Concurrency(3),
                new LoadSettings(0, 0, false, Slo.NONE, Duration.ofSeconds(10), null, true, warmup),
                Duration.ofSeconds(60), logs, "tandem bench compare --mock");
    }

    @Test
    void run_twoRoundsWithWarmup_interleavedRunsClaimsPerRoundAndCountersWithoutTheWarmup(@TempDir Path dir) {
        CompareBench.Settings s = settings(List.of(ServeConfiguration.KV, ServeConfiguration.DISAGG), 2, 3,
                dir.resolve("logs"));

        BenchReport report = CompareBench.run(s, new PrintStream(new ByteArrayOutputStream()));

        assertThat(report.runs()).extracting(RunRecord::label)
                .containsExactly("kv x4", "1P+1D kv", "kv x4 #2", "1P+1D kv #2");
        assertThat(report.runs()).allSatisfy(r -> assertThat(r.summary().requests()).isEqualTo(9));
        assertThat(report.runs().get(0).disagg()).isNull();
        assertThat(report.runs().get(1).disagg().remote()).isEqualTo(9);
        com.fasterxml.jackson.databind.JsonNode json = JsonReport.tree(report).path("runs");
        assertThat(json.path(0).has("disagg")).isFalse();
        assertThat(json.path(1).path("disagg").path("remote_prefills").asLong()).isEqualTo(9);
        assertThat(json.path(1).path("disagg").path("local_prefills").asLong()).isZero();
        assertThat(json.path(1).path("disagg").path("kv_pulls").asLong()).isEqualTo(9);
        assertThat(json.path(1).path("disagg").path("kv_transfer_s").asDouble()).isEqualTo(0.009);
        // 3 warm-up requests reached each server before its counters were first read: 9, not 12
        assertThat(report.notes()).filteredOn(n -> n.contains("prompts prefilled")).containsExactly(
                "1P+1D kv: 9 prompts prefilled on a prefill worker, 0 by the decode worker; 9 KV pulls, 0.0 MB in "
                        + "0.009 s (server /metrics, before and after the run)",
                "1P+1D kv #2: 9 prompts prefilled on a prefill worker, 0 by the decode worker; 9 KV pulls, 0.0 MB in "
                        + "0.009 s (server /metrics, before and after the run)");
        assertThat(report.claims().get(1).measured()).matches("round 1: [0-9.]+% \\(1P\\+1D kv, 9 of 9 prompts "
                + "remote\\); round 2: [0-9.]+% \\(1P\\+1D kv #2, 9 of 9 prompts remote\\)");
        assertThat(Files.exists(dir.resolve("logs/disagg-2.log"))).isTrue();
    }

    @Test
    void claims_runWithFailures_flaggedAsNotLikeForLike() {
        RunRecord kv = record("kv", 100, 2.0, 10, 40);
        RequestResult ok = RequestResult.builder(0, 0, 0).endNs(20_000_000).chunkNs(10_000_000).usage(10, 1, 5).build();
        RequestResult failed = RequestResult.builder(1, 1, 0).endNs(5_000_000).error("http_500", "boom").build();
        RunRecord naive = RunRecord.of("naive", null, new ArrivalMode.Concurrency(2),
                new LoadRunner.Outcome(List.of(ok, failed), 0, 1_000_000_000, 2), Slo.NONE);
        List<Claim> claims = Claims.compute(Map.of(ServeConfiguration.DISAGG, kv,
                ServeConfiguration.DISAGG_ROUND_ROBIN, naive), Map.of(), true);
        assertThat(claims.get(2).measured()).endsWith(" (NOT like for like: naive lost 1 of 2 requests {http_500=1} "
                + "and skipped 2 turns)");
        assertThat(Claims.failures(kv)).isEmpty();
    }

    @Test
    void claimsByRound_twoRounds_measuredListsEachRound() {
        List<Claim> one = List.of(new Claim("t", "c", "1%", "b"));
        List<Claim> two = List.of(new Claim("t", "c", "2%", "b2"));
        assertThat(Claims.byRound(List.of(one))).isEqualTo(one);
        assertThat(Claims.byRound(List.of(one, two))).containsExactly(
                new Claim("t", "c", "round 1: 1%; round 2: 2%", "b (round 1; later rounds alike)"));
    }

    @Test
    void run_fourConfigurationsOneUnsupported_sideBySideReportWithSkipNoteAndClaims(@TempDir Path dir) {
        long childrenBefore = ProcessHandle.current().children().count();
        CompareBench.Settings s = settings(List.of(ServeConfiguration.ROUND_ROBIN, ServeConfiguration.KV,
                ServeConfiguration.DISAGG, ServeConfiguration.DISAGG_ROUND_ROBIN), dir.resolve("logs"));

        BenchReport report = CompareBench.run(s, new PrintStream(new ByteArrayOutputStream()));

        assertThat(report.simulated()).isTrue();
        assertThat(report.runs()).extracting(RunRecord::label).containsExactly("round-robin x4", "kv x4", "1P+1D kv");
        for (RunRecord r : report.runs()) {
            assertThat(r.summary().succeeded()).isEqualTo(9);
            assertThat(r.summary().cacheHitRate()).isPositive();
            assertThat(r.description()).contains("--model x");
        }
        assertThat(report.runs().get(1).description()).contains("--workers 4 --router kv");
        assertThat(report.runs().get(2).description()).contains("--prefill-workers 1 --decode-workers 1 --router kv");
        assertThat(report.notes()).anySatisfy(n -> assertThat(n).contains("1P+1D naive (disagg-rr) skipped")
                .endsWith("exited with status 2: Unknown option: '--enforce-disagg'"));
        assertThat(report.notes()).contains("1P+1D kv: 9 prompts prefilled on a prefill worker, 0 by the decode worker; "
                + "9 KV pulls, 0.0 MB in 0.009 s (server /metrics, before and after the run)");
        Map<String, Claim> claims = new java.util.HashMap<>();
        report.claims().forEach(c -> claims.put(c.topic(), c));
        // the sign depends on timing on a shared machine: check the shape, not the outcome
        assertThat(claims.get("throughput vs round-robin").measured()).matches("output tokens/s [+-][0-9.]+%.*");
        assertThat(claims.get("prefix cache hit rate, multi-turn chat").measured()).endsWith("%");
        assertThat(claims.get("KV transfer overhead").measured()).matches("[0-9.]+% \\(1P\\+1D kv, 9 of 9 prompts remote\\)");
        assertThat(claims.get("KV transfer overhead").basis()).startsWith("1P+1D kv: 0.009 s of KV pulls");
        assertThat(claims.get("latency vs naive disaggregation").measured()).isEqualTo(Claims.NOT_MEASURED);
        assertThat(Files.exists(dir.resolve("logs/kv.log"))).isTrue();
        assertThat(ProcessHandle.current().children().count()).as("every server stopped").isEqualTo(childrenBefore);

        List<Charts.ChartFile> charts = ReportFiles.write(report, dir.resolve("out"));
        assertThat(charts).extracting(Charts.ChartFile::fileName).contains("throughput.png", "hit_rate.png");
        String md = MarkdownReport.render(report, charts);
        assertThat(md).contains("Claims next to measurements", "40-60% higher", "70-85%", "SIMULATION");
    }

    @Test
    void run_noConfigurationStarts_clearError(@TempDir Path dir) {
        CompareBench.Settings s = settings(List.of(ServeConfiguration.DISAGG_ROUND_ROBIN), dir);
        assertThatThrownBy(() -> CompareBench.run(s, new PrintStream(new ByteArrayOutputStream())))
                .isInstanceOf(ConfigException.class).hasMessageContaining("no configuration could be run")
                .hasMessageContaining("Unknown option");
    }

    @Test
    void claims_disaggregatedRuns_ratiosAndTransferShareComputedByHand() {
        RunRecord kv = record("kv", 100, 2.0, 10, 40);       // TTFT mean 25 ms, E2E mean 50 ms
        RunRecord naive = record("naive", 50, 1.0, 30, 70);  // TTFT mean 50 ms, E2E mean 100 ms
        Map<ServeConfiguration, RunRecord> runs = Map.of(ServeConfiguration.DISAGG, kv,
                ServeConfiguration.DISAGG_ROUND_ROBIN, naive, ServeConfiguration.KV, kv, ServeConfiguration.ROUND_ROBIN,
                naive);
        List<Claim> claims = Claims.compute(runs, Map.of(ServeConfiguration.DISAGG,
                new DisaggCounters(1, 1, 0, 1, 1e6, 0.002), ServeConfiguration.DISAGG_ROUND_ROBIN,
                new DisaggCounters(2, 0, 0, 2, 2e6, 0.008)), false);
        // naive first: 8 ms / (30 + 70) ms of TTFT; then kv: 2 ms / (10 + 40) ms
        assertThat(claims.get(1).measured()).isEqualTo("8.0% (naive, 2 of 2 prompts remote); 4.0% (kv, 1 of 2 prompts "
                + "remote)");
        assertThat(claims.get(2).measured()).isEqualTo("TTFT mean -50.0%, E2E mean -50.0%");
        assertThat(claims.get(3).measured()).isEqualTo("output tokens/s +100.0%, requests/s +100.0%");
        assertThat(claims.get(0).basis()).contains("not multi-turn chat").doesNotContain("one worker");
        RunRecord single = record("single", 10, 1.0, 10, 10);
        List<Claim> withBaseline = Claims.compute(Map.of(ServeConfiguration.KV, kv, ServeConfiguration.BASELINE, single),
                Map.of(), true);
        assertThat(withBaseline.get(1).measured()).isEqualTo(Claims.NOT_MEASURED);
        assertThat(withBaseline.get(0).measured()).isEqualTo("50.0%");
        assertThat(withBaseline.get(0).basis()).isEqualTo("cached / prompt tokens over the kv run; one worker, whose "
                + "cache sees every turn, reached 50.0% on the same prompts");
    }

    /** A run of two requests with the given TTFTs (ms) and E2E = 2 x TTFT. */
    private static RunRecord record(String label, double outputPerS, double requestsPerS, long ttft1, long ttft2) {
        long ms = 1_000_000L;
        RequestResult a = RequestResult.builder(0, 0, 0).endNs(2 * ttft1 * ms).chunkNs(ttft1 * ms).usage(10, 1, 5)
                .build();
        RequestResult b = RequestResult.builder(1, 0, 0).endNs(2 * ttft2 * ms).chunkNs(ttft2 * ms).usage(10, 1, 5)
                .build();
        LoadRunner.Outcome o = new LoadRunner.Outcome(List.of(a, b), 0, (long) (2e9 / requestsPerS), 0);
        RunRecord r = RunRecord.of(label, null, new ArrivalMode.Concurrency(2), o, Slo.NONE);
        RunSummary s = r.summary();
        assertThat(s.requestsPerS()).isCloseTo(requestsPerS, within(1e-9));
        RunSummary adjusted = new RunSummary(s.label(), s.requests(), s.succeeded(), s.skippedTurns(), s.errors(),
                s.durationS(), s.requestsPerS(), outputPerS, s.promptTokensPerS(), s.promptTokens(), s.outputTokens(),
                s.cachedTokens(), s.cacheReported(), s.cacheHitRate(), s.ttftMs(), s.itlMs(), s.tpotMs(), s.e2eMs(),
                s.dispatchLagMs(), s.slo(), s.goodputRps(), s.goodFraction());
        return new RunRecord(label, null, r.arrival(), adjusted, r.samples(), r.results(), r.startNs(), null);
    }

    @Test
    void prometheusText_sumsOneMetricOverLabelsOnly() {
        String text = """
                # HELP tandem_kv_transfer_seconds_total seconds
                # TYPE tandem_kv_transfer_seconds_total counter
                tandem_kv_transfer_seconds_total{transport="local"} 1.5
                tandem_kv_transfer_seconds_total{transport="tcp",peer="a b"} 0.25
                tandem_kv_transfer_seconds_totally 100
                tandem_kv_transfer_seconds 7
                """;
        assertThat(PrometheusText.sum(text, "tandem_kv_transfer_seconds_total")).isEqualTo(1.75);
        assertThat(PrometheusText.sum(text, "tandem_kv_transfer_seconds")).isEqualTo(7);
        assertThat(PrometheusText.sum(text, "missing")).isNaN();
        assertThat(PrometheusText.delta("tandem_kv_transfer_seconds_total 1", text,
                DisaggCounters.TRANSFER_SECONDS)).isEqualTo(0.75);
        assertThat(PrometheusText.sum(text, "tandem_kv_transfer_seconds_total", "transport=\"tcp\"")).isEqualTo(0.25);
        assertThat(PrometheusText.sum(text, "tandem_kv_transfer_seconds_total", "transport=\"shm\"")).isNaN();
    }

    @Test
    void disaggCounters_between_differencesPerPathAndMissingCountersAreNaN() {
        String before = """
                tandem_disagg_requests_total{path="remote",reason="remote"} 3
                tandem_disagg_requests_total{path="local",reason="short_prompt"} 5
                tandem_kv_transfer_seconds_total{transport="local"} 0.5
                """;
        String after = """
                tandem_disagg_requests_total{path="remote",reason="remote"} 10
                tandem_disagg_requests_total{path="local",reason="short_prompt"} 6
                tandem_disagg_requests_total{path="local",reason="prefill_busy"} 2
                tandem_kv_transfer_seconds_total{transport="local"} 0.75
                """;
        DisaggCounters d = DisaggCounters.between(before, after);
        assertThat(d.remote()).isEqualTo(7);
        assertThat(d.local()).isEqualTo(3);
        assertThat(d.transferSeconds()).isEqualTo(0.25);
        assertThat(d.pulls()).isNaN();
        assertThat(d.describe("x")).startsWith("x: 7 prompts prefilled on a prefill worker, 3 by the decode worker; 0 "
                + "KV pulls, 0.0 MB in 0.250 s");
        DisaggCounters onlyLocal = DisaggCounters.between("",
                "tandem_disagg_requests_total{path=\"local\",reason=\"short_prompt\"} 4\n");
        assertThat(onlyLocal.remote()).isZero();
        assertThat(onlyLocal.local()).isEqualTo(4);
        assertThat(DisaggCounters.between(null, "# nothing\n").describe("y"))
                .startsWith("y: the server reported no disaggregation counters");
    }

    @Test
    void parseList_unknownConfiguration_namesIt() {
        assertThat(ServeConfiguration.parseList(List.of("kv", " baseline", "kv")))
                .containsExactly(ServeConfiguration.KV, ServeConfiguration.BASELINE);
        assertThatThrownBy(() -> ServeConfiguration.parseList(List.of("fast")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("'fast'");
    }
}
