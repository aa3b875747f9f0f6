package dev.tandem.bench;

import java.util.List;

/**
 * One run in a report: its label, arrival setting, summary, raw samples and per-request results.
 *
 * @param label       what distinguishes it from the report's other runs (c=8, or a configuration name)
 * @param description longer text (a configuration's server command), or null
 * @param startNs     the run's start ({@link System#nanoTime()} scale), for per-request offsets
 * @param disagg      what a disaggregated server reported during the run, or null
 */
public record RunRecord(String label, String description, ArrivalMode arrival, RunSummary summary, Samples samples,
                        List<RequestResult> results, long startNs, DisaggCounters disagg) {
    public RunRecord {
        results = List.copyOf(results);
    }

    /** Summarises a finished run. */
    public static RunRecord of(String label, String description, ArrivalMode arrival, LoadRunner.Outcome outcome,
                               Slo slo) {
        return new RunRecord(label, description, arrival, RunSummary.of(label, outcome, slo),
                Samples.of(outcome.results()), outcome.results(), outcome.startNs(), null);
    }

    /** This run with the server's disaggregation counters. */
    public RunRecord withDisagg(DisaggCounters counters) {
        return new RunRecord(label, description, arrival, summary, samples, results, startNs, counters);
    }
}
