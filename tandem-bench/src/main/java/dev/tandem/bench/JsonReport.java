package dev.tandem.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;

/**
 * The report as one JSON object (snake_case; NaN and missing figures are null). Field meanings
 * follow {@link RunSummary}; latencies are ms, throughputs per second.
 */
public final class JsonReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private JsonReport() {
    }

    public static String toJson(BenchReport report) {
        try {
            return JSON.writeValueAsString(tree(report));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot encode the report", e);
        }
    }

    static ObjectNode tree(BenchReport report) {
        ObjectNode root = JSON.createObjectNode();
        root.put("title", report.title());
        root.put("simulated", report.simulated());
        if (report.simulated()) {
            root.put("simulation_note", BenchReport.SIMULATION_BANNER);
        }
        RunInfo info = report.info();
        root.put("command", info.commandLine());
        root.put("started_at", info.startedAt());
        ObjectNode machine = root.putObject("machine");
        machine.put("cores", info.cores());
        machine.put("cpu", info.cpuModel());
        machine.put("memory_bytes", info.memoryBytes());
        machine.put("os", info.os());
        root.put("java", info.java());
        root.put("git_commit", info.gitCommit());
        root.put("target", report.target());
        root.put("model", report.model());
        root.put("workload", report.workload());
        var runs = root.putArray("runs");
        for (RunRecord r : report.runs()) {
            ObjectNode run = runs.addObject();
            run.put("label", r.label());
            if (r.description() != null) {
                run.put("description", r.description());
            }
            run.put("arrival", r.arrival().label());
            if (r.arrival() instanceof ArrivalMode.Concurrency c) {
                run.put("concurrency", c.clients());
            }
            summary(run, r.summary());
            if (r.disagg() != null) {
                DisaggCounters d = r.disagg();
                ObjectNode o = run.putObject("disagg");
                count(o, "remote_prefills", d.remote());
                count(o, "local_prefills", d.local());
                count(o, "fallbacks", d.fallbacks());
                count(o, "kv_pulls", d.pulls());
                count(o, "kv_bytes", d.bytes());
                number(o, "kv_transfer_s", d.transferSeconds());
            }
        }
        var notes = root.putArray("notes");
        report.notes().forEach(notes::add);
        if (!report.claims().isEmpty()) {
            var claims = root.putArray("claims");
            for (Claim c : report.claims()) {
                claims.addObject().put("topic", c.topic()).put("claimed", c.claimed()).put("measured", c.measured())
                        .put("basis", c.basis());
            }
        }
        return root;
    }

    private static void summary(ObjectNode run, RunSummary s) {
        run.put("requests", s.requests());
        run.put("succeeded", s.succeeded());
        run.put("failed", s.failed());
        run.put("skipped_turns", s.skippedTurns());
        ObjectNode errors = run.putObject("errors");
        for (Map.Entry<String, Integer> e : s.errors().entrySet()) {
            errors.put(e.getKey(), e.getValue());
        }
        number(run, "duration_s", s.durationS());
        number(run, "request_throughput", s.requestsPerS());
        number(run, "output_throughput", s.outputTokensPerS());
        number(run, "prompt_throughput", s.promptTokensPerS());
        run.put("prompt_tokens", s.promptTokens());
        run.put("output_tokens", s.outputTokens());
        run.put("cached_tokens", s.cachedTokens());
        run.put("cache_reported_requests", s.cacheReported());
        number(run, "cache_hit_rate", s.cacheHitRate() == null ? Double.NaN : s.cacheHitRate());
        distribution(run, "ttft_ms", s.ttftMs());
        distribution(run, "itl_ms", s.itlMs());
        distribution(run, "tpot_ms", s.tpotMs());
        distribution(run, "e2e_ms", s.e2eMs());
        distribution(run, "dispatch_lag_ms", s.dispatchLagMs());
        ObjectNode slo = run.putObject("slo");
        number(slo, "ttft_ms", s.slo().ttftMs());
        number(slo, "itl_ms", s.slo().itlMs());
        number(run, "goodput", s.goodputRps() == null ? Double.NaN : s.goodputRps());
        number(run, "good_fraction", s.goodFraction() == null ? Double.NaN : s.goodFraction());
    }

    private static void distribution(ObjectNode parent, String name, Distribution d) {
        ObjectNode o = parent.putObject(name);
        o.put("count", d.count());
        number(o, "mean", d.mean());
        number(o, "min", d.min());
        number(o, "p50", d.p50());
        number(o, "p90", d.p90());
        number(o, "p95", d.p95());
        number(o, "p99", d.p99());
        number(o, "max", d.max());
    }

    private static void count(ObjectNode o, String field, double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            o.putNull(field);
        } else {
            o.put(field, Math.round(v));
        }
    }

    private static void number(ObjectNode o, String field, double v) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            o.putNull(field);
        } else {
            o.put(field, Math.round(v * 1e4) / 1e4);
        }
    }
}
