package dev.tandem.bench;

import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

/** The report as Markdown: context, a results table, percentile tables, claims, charts, notes. */
public final class MarkdownReport {
    private MarkdownReport() {
    }

    public static String render(BenchReport report, List<Charts.ChartFile> charts) {
        StringBuilder md = new StringBuilder();
        md.append("# ").append(report.title()).append("\n\n");
        if (report.simulated()) {
            md.append("> **").append(BenchReport.SIMULATION_BANNER).append("**\n\n");
        }
        RunInfo info = report.info();
        md.append("| | |\n|---|---|\n");
        row(md, "Command", "`" + info.commandLine().replace("|", "\\|") + "`");
        row(md, "Target", report.target());
        row(md, "Model", report.model() + (report.simulated() ? " (mock engines: simulation)" : ""));
        row(md, "Workload", report.workload());
        row(md, "Machine", info.machine());
        row(md, "Java", info.java());
        row(md, "Commit", info.gitCommit());
        row(md, "Started", info.startedAt());
        md.append('\n');
        results(md, report.runs());
        if (!report.claims().isEmpty()) {
            md.append("## Claims next to measurements\n\n");
            if (report.simulated()) {
                md.append("Measured on mock engines: a simulation, not the real engine.\n\n");
            }
            md.append("| topic | claimed | measured | basis |\n|---|---|---|---|\n");
            for (Claim c : report.claims()) {
                md.append("| ").append(c.topic()).append(" | ").append(c.claimed()).append(" | ").append(c.measured())
                        .append(" | ").append(c.basis()).append(" |\n");
            }
            md.append('\n');
        }
        percentiles(md, report.runs());
        if (!charts.isEmpty()) {
            md.append("## Charts\n\n");
            for (Charts.ChartFile c : charts) {
                md.append("![").append(c.caption()).append("](").append(c.fileName()).append(")\n\n");
            }
        }
        md.append("## Notes\n\n");
        for (String n : report.notes()) {
            md.append("- ").append(n).append('\n');
        }
        md.append("- Definitions: TTFT is the time to the first chunk carrying text; ITL the gaps between text chunks; "
                + "TPOT (end-to-end - TTFT) / (output tokens - 1); percentiles interpolate linearly between closest "
                + "ranks (numpy's default); latencies cover successful requests only; throughputs divide by the run's "
                + "wall time; the hit rate is cached / prompt tokens from the server's usage.\n");
        return md.toString();
    }

    /** The results table alone (what the command prints on a terminal). */
    public static String resultsTable(BenchReport report) {
        StringBuilder md = new StringBuilder();
        if (report.simulated()) {
            md.append(BenchReport.SIMULATION_BANNER).append("\n\n");
        }
        results(md, report.runs());
        return md.toString();
    }

    private static void results(StringBuilder md, List<RunRecord> runs) {
        md.append("## Results\n\n");
        md.append("| run | ok / sent | req/s | output tok/s | cache hit rate | TTFT p50 / p99 (ms) | ITL p50 / p99 (ms) "
                + "| TPOT p50 (ms) | E2E p50 / p99 (ms) | goodput (req/s) | errors |\n");
        md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
        for (RunRecord r : runs) {
            RunSummary s = r.summary();
            md.append("| ").append(r.label())
                    .append(" | ").append(s.succeeded()).append(" / ").append(s.requests())
                    .append(" | ").append(fmt(s.requestsPerS()))
                    .append(" | ").append(fmt(s.outputTokensPerS()))
                    .append(" | ").append(s.cacheHitRate() == null ? "not reported" : percent(s.cacheHitRate()))
                    .append(" | ").append(fmt(s.ttftMs().p50())).append(" / ").append(fmt(s.ttftMs().p99()))
                    .append(" | ").append(fmt(s.itlMs().p50())).append(" / ").append(fmt(s.itlMs().p99()))
                    .append(" | ").append(fmt(s.tpotMs().p50()))
                    .append(" | ").append(fmt(s.e2eMs().p50())).append(" / ").append(fmt(s.e2eMs().p99()))
                    .append(" | ").append(s.goodputRps() == null ? "-" : fmt(s.goodputRps()))
                    .append(" | ").append(errors(s)).append(" |\n");
        }
        md.append('\n');
        for (RunRecord r : runs) {
            if (r.description() != null) {
                md.append("- **").append(r.label()).append("**: ").append(r.description()).append('\n');
            }
        }
        if (runs.stream().anyMatch(r -> r.description() != null)) {
            md.append('\n');
        }
    }

    private static void percentiles(StringBuilder md, List<RunRecord> runs) {
        md.append("## Latency percentiles (ms)\n\n");
        for (RunRecord r : runs) {
            RunSummary s = r.summary();
            md.append("### ").append(r.label());
            if (!r.label().equals(r.arrival().label())) {
                md.append(" (").append(r.arrival().label()).append(')');
            }
            md.append("\n\n");
            md.append("| metric | mean | p50 | p90 | p95 | p99 | max | samples |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
            distribution(md, "TTFT", s.ttftMs());
            distribution(md, "ITL", s.itlMs());
            distribution(md, "TPOT", s.tpotMs());
            distribution(md, "E2E", s.e2eMs());
            distribution(md, "dispatch lag", s.dispatchLagMs());
            md.append("\n").append(s.succeeded()).append(" of ").append(s.requests()).append(" requests succeeded in ")
                    .append(fmt(s.durationS())).append(" s; ").append(s.promptTokens()).append(" prompt tokens (")
                    .append(s.cachedTokens()).append(" cached), ").append(s.outputTokens()).append(" output tokens");
            if (s.skippedTurns() > 0) {
                md.append("; ").append(s.skippedTurns()).append(" conversation turns skipped after a failure");
            }
            md.append(".\n\n");
        }
    }

    private static void distribution(StringBuilder md, String name, Distribution d) {
        md.append("| ").append(name).append(" | ").append(fmt(d.mean())).append(" | ").append(fmt(d.p50()))
                .append(" | ").append(fmt(d.p90())).append(" | ").append(fmt(d.p95())).append(" | ")
                .append(fmt(d.p99())).append(" | ").append(fmt(d.max())).append(" | ").append(d.count()).append(" |\n");
    }

    private static String errors(RunSummary s) {
        if (s.errors().isEmpty()) {
            return "none";
        }
        return s.errors().entrySet().stream().map(Map.Entry::toString).collect(Collectors.joining(", "));
    }

    private static void row(StringBuilder md, String key, String value) {
        md.append("| ").append(key).append(" | ").append(value).append(" |\n");
    }

    static String percent(double v) {
        return String.format(Locale.ROOT, "%.1f%%", 100 * v);
    }

    static String fmt(double v) {
        if (Double.isNaN(v)) {
            return "-";
        }
        double a = Math.abs(v);
        String pattern = a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f";
        return String.format(Locale.ROOT, pattern, v);
    }
}
