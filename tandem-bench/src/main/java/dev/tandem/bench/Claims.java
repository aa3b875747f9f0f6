package dev.tandem.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Puts the project seed's four claims next to what one comparison measured. Every ratio is
 * between two configurations of the same run (same machine, same workload, run back to back).
 */
final class Claims {
    static final String NOT_MEASURED = "not measured";

    private Claims() {
    }

    /**
     * @param runs            the runs that happened, by configuration
     * @param disagg        what each disaggregated server reported on /metrics during its run
     * @param multiTurnChat whether the workload is multi-turn chat (the hit-rate claim is about that)
     */
    static List<Claim> compute(Map<ServeConfiguration, RunRecord> runs, Map<ServeConfiguration, DisaggCounters> disagg,
                               boolean multiTurnChat) {
        List<Claim> out = new ArrayList<>();
        out.add(hitRate(runs, multiTurnChat));
        out.add(transferOverhead(runs, disagg));
        out.add(versusNaiveDisaggregation(runs.get(ServeConfiguration.DISAGG),
                runs.get(ServeConfiguration.DISAGG_ROUND_ROBIN)));
        out.add(versusRoundRobin(runs.get(ServeConfiguration.KV), runs.get(ServeConfiguration.ROUND_ROBIN)));
        return out;
    }

    private static Claim hitRate(Map<ServeConfiguration, RunRecord> runs, boolean multiTurnChat) {
        String topic = "prefix cache hit rate, multi-turn chat";
        RunRecord r = runs.getOrDefault(ServeConfiguration.KV, runs.get(ServeConfiguration.BASELINE));
        if (r == null || r.summary().cacheHitRate() == null) {
            return new Claim(topic, "70-85%", NOT_MEASURED, "needs the kv or baseline configuration and a server "
                    + "that reports usage.prompt_tokens_details.cached_tokens");
        }
        RunRecord single = runs.get(ServeConfiguration.BASELINE);
        String ceiling = single != null && single != r && single.summary().cacheHitRate() != null
                ? "; one worker, whose cache sees every turn, reached " + MarkdownReport.percent(
                        single.summary().cacheHitRate()) + " on the same prompts" : "";
        return new Claim(topic, "70-85%", MarkdownReport.percent(r.summary().cacheHitRate()),
                "cached / prompt tokens over the " + r.label() + " run" + ceiling + (multiTurnChat ? ""
                        : " (this workload is not multi-turn chat, so the claim does not apply directly)"));
    }

    /**
     * KV pull time (server counter) over summed client TTFT, per disaggregated run: the naive run
     * first, where every prompt is prefilled remotely and pulled, then the KV-routed one, where
     * only the prompts its decode worker lacked were.
     */
    private static Claim transferOverhead(Map<ServeConfiguration, RunRecord> runs,
                                          Map<ServeConfiguration, DisaggCounters> disagg) {
        String topic = "KV transfer overhead";
        List<String> measured = new ArrayList<>();
        List<String> basis = new ArrayList<>();
        for (ServeConfiguration c : List.of(ServeConfiguration.DISAGG_ROUND_ROBIN, ServeConfiguration.DISAGG)) {
            RunRecord r = runs.get(c);
            DisaggCounters d = disagg.get(c);
            if (r == null || d == null || Double.isNaN(d.transferSeconds())) {
                continue;
            }
            double ttftSeconds = sum(r.samples().ttftMs()) / 1e3;
            if (ttftSeconds <= 0) {
                continue;
            }
            String remote = Double.isNaN(d.remote()) ? "" : String.format(Locale.ROOT, ", %.0f of %d prompts remote",
                    d.remote(), r.summary().requests());
            measured.add(MarkdownReport.percent(d.transferSeconds() / ttftSeconds) + " (" + r.label() + remote + ")");
            basis.add(String.format(Locale.ROOT, "%s: %.3f s of KV pulls (server metric) / %.3f s of summed TTFT "
                    + "(client)", r.label(), d.transferSeconds(), ttftSeconds));
        }
        if (measured.isEmpty()) {
            return new Claim(topic, "< 5% of TTFT", NOT_MEASURED, "needs a disagg or disagg-rr run whose server reports "
                    + "tandem_kv_transfer_seconds_total");
        }
        return new Claim(topic, "< 5% of TTFT", String.join("; ", measured), String.join("; ", basis));
    }

    private static Claim versusNaiveDisaggregation(RunRecord kv, RunRecord naive) {
        String topic = "latency vs naive disaggregation";
        if (kv == null || naive == null) {
            return new Claim(topic, "30-40% lower", NOT_MEASURED, "needs the disagg and disagg-rr configurations");
        }
        return new Claim(topic, "30-40% lower",
                "TTFT mean " + change(kv.summary().ttftMs().mean(), naive.summary().ttftMs().mean()) + ", E2E mean "
                        + change(kv.summary().e2eMs().mean(), naive.summary().e2eMs().mean()) + failures(kv, naive),
                kv.label() + " (KV router, remote prefill only for what the decode worker lacks) against "
                        + naive.label() + " (round-robin, every prompt prefilled remotely); negative = lower latency");
    }

    private static Claim versusRoundRobin(RunRecord kv, RunRecord roundRobin) {
        String topic = "throughput vs round-robin";
        if (kv == null || roundRobin == null) {
            return new Claim(topic, "40-60% higher", NOT_MEASURED, "needs the kv and round-robin configurations");
        }
        String basis = kv.label() + " against " + roundRobin.label() + " at the same offered load";
        if (!(kv.arrival() instanceof ArrivalMode.Concurrency)) {
            basis += "; with open-loop arrivals both serve the offered rate unless one saturates, so compare "
                    + "throughput under --concurrency (a closed loop)";
        }
        return new Claim(topic, "40-60% higher",
                "output tokens/s " + change(kv.summary().outputTokensPerS(), roundRobin.summary().outputTokensPerS())
                        + ", requests/s " + change(kv.summary().requestsPerS(), roundRobin.summary().requestsPerS())
                        + failures(kv, roundRobin),
                basis);
    }

    /**
     * One list of claims from several rounds' lists (same topics, same order): with one round it is
     * that round's list; otherwise each claim's measured value lists every round ("round 1: ...;
     * round 2: ...") and its basis is the first round's.
     */
    static List<Claim> byRound(List<List<Claim>> rounds) {
        if (rounds.size() == 1) {
            return rounds.getFirst();
        }
        List<Claim> out = new ArrayList<>();
        List<Claim> first = rounds.getFirst();
        for (int i = 0; i < first.size(); i++) {
            StringBuilder measured = new StringBuilder();
            for (int r = 0; r < rounds.size(); r++) {
                measured.append(r > 0 ? "; " : "").append("round ").append(r + 1).append(": ")
                        .append(rounds.get(r).get(i).measured());
            }
            Claim c = first.get(i);
            out.add(new Claim(c.topic(), c.claimed(), measured.toString(), c.basis() + " (round 1; later rounds alike)"));
        }
        return out;
    }

    /**
     * A warning when a compared run lost requests: its latencies cover the successful requests
     * only and its throughput the requests that were sent, so the ratio is not like for like.
     */
    static String failures(RunRecord... runs) {
        StringBuilder sb = new StringBuilder();
        for (RunRecord r : runs) {
            RunSummary s = r.summary();
            if (s.failed() > 0 || s.skippedTurns() > 0) {
                sb.append(sb.isEmpty() ? " (NOT like for like: " : "; ").append(r.label()).append(" lost ")
                        .append(s.failed()).append(" of ").append(s.requests()).append(" requests ")
                        .append(s.errors()).append(s.skippedTurns() > 0 ? " and skipped " + s.skippedTurns()
                                + " turns" : "");
            }
        }
        return sb.isEmpty() ? "" : sb.append(')').toString();
    }

    /** "+12.3%" for measured / reference - 1. */
    static String change(double measured, double reference) {
        if (Double.isNaN(measured) || Double.isNaN(reference) || reference == 0) {
            return "n/a";
        }
        return String.format(Locale.ROOT, "%+.1f%%", 100 * (measured / reference - 1));
    }

    private static double sum(double[] values) {
        double s = 0;
        for (double v : values) {
            s += v;
        }
        return s;
    }
}
