package dev.tandem.bench;

import java.util.List;

/**
 * Everything a report states: where it ran, against what, the runs, notes and (comparisons) the
 * seed's claims next to the measurements.
 *
 * @param title          heading
 * @param info           command line, machine, Java, commit
 * @param target         the server URL, or what the comparison started
 * @param model          the model name sent
 * @param workload       the workload's description
 * @param simulated      true when the server ran mock engines: every figure is then a simulation
 * @param runs           the runs, in the order they ran
 * @param notes          extra lines (skipped configurations, caveats)
 * @param claims         claims vs measurements (empty outside comparisons)
 */
public record BenchReport(String title, RunInfo info, String target, String model, String workload, boolean simulated,
                          List<RunRecord> runs, List<String> notes, List<Claim> claims) {
    /** The banner put on every simulated result. */
    public static final String SIMULATION_BANNER = "SIMULATION: mock engines with a timing model (no model ran); "
            + "latencies and throughputs are simulated, not measurements of the real engine.";

    public BenchReport {
        runs = List.copyOf(runs);
        notes = List.copyOf(notes);
        claims = List.copyOf(claims);
    }
}
