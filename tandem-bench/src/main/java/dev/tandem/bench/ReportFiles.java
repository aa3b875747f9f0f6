package dev.tandem.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.ConfigException;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Writes a report into a directory: {@code summary.json}, {@code report.md}, the PNG charts, and
 * {@code requests.jsonl} (one line per request: times in ms from the run's start, token counts,
 * error type, and the reply text, which a conversation's next turn carried in its history).
 */
public final class ReportFiles {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ReportFiles() {
    }

    /** Writes everything; returns the chart files written. */
    public static List<Charts.ChartFile> write(BenchReport report, Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new ConfigException("cannot create output directory " + dir + ": " + e.getMessage(), e);
        }
        List<Charts.ChartFile> charts = Charts.write(report, dir);
        try {
            Files.writeString(dir.resolve("summary.json"), JsonReport.toJson(report) + "\n", StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("report.md"), MarkdownReport.render(report, charts), StandardCharsets.UTF_8);
            writeRequests(report, dir.resolve("requests.jsonl"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the report into " + dir, e);
        }
        return charts;
    }

    private static void writeRequests(BenchReport report, Path file) throws IOException {
        try (BufferedWriter out = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (RunRecord run : report.runs()) {
                for (RequestResult r : run.results()) {
                    out.write(JSON.writeValueAsString(row(run, r)));
                    out.write('\n');
                }
            }
        }
    }

    static ObjectNode row(RunRecord run, RequestResult r) {
        ObjectNode o = JSON.createObjectNode();
        o.put("run", run.label());
        o.put("session", r.sessionId());
        o.put("turn", r.turn());
        o.put("ok", r.ok());
        if (!r.ok()) {
            o.put("error", r.errorType());
            o.put("error_message", r.errorMessage());
        }
        o.put("http_status", r.httpStatus());
        o.put("start_ms", ms(r.startNs() - run.startNs()));
        o.put("dispatch_lag_ms", ms(r.dispatchLagNs()));
        if (r.ttftNs() >= 0) {
            o.put("ttft_ms", ms(r.ttftNs()));
        }
        o.put("e2e_ms", ms(r.e2eNs()));
        if (r.tpotNs() >= 0) {
            o.put("tpot_ms", Math.round(r.tpotNs() / 1e3) / 1e3);
        }
        o.put("chunks", r.contentChunks());
        o.put("prompt_tokens", r.promptTokens());
        o.put("completion_tokens", r.completionTokens());
        o.put("cached_tokens", r.cachedTokens());
        o.put("reply", r.reply());
        return o;
    }

    private static double ms(long ns) {
        return Math.round(ns / 1e3) / 1e3;
    }
}
