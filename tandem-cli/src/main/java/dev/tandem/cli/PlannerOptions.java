package dev.tandem.cli;

import dev.tandem.cli.planner.PlannerConfig;
import picocli.CommandLine.Option;

/** The planner's objectives and bounds, shared by {@code tandem planner} and {@code tandem up --planner}. */
final class PlannerOptions {
    @Option(names = "--ttft-slo-ms", defaultValue = "1000",
            description = "planner: objective for p95 time to first token, ms; missed -> one more prefill worker "
                    + "(default: ${DEFAULT-VALUE})")
    double ttftSloMs;

    @Option(names = "--itl-slo-ms", defaultValue = "100",
            description = "planner: objective for p95 inter-token latency, ms; missed -> one more decode worker "
                    + "(default: ${DEFAULT-VALUE})")
    double itlSloMs;

    @Option(names = "--min-prefill", defaultValue = "1", description = "planner: fewest prefill workers (default: ${DEFAULT-VALUE})")
    int minPrefill;

    @Option(names = "--max-prefill", defaultValue = "4", description = "planner: most prefill workers (default: ${DEFAULT-VALUE})")
    int maxPrefill;

    @Option(names = "--min-decode", defaultValue = "1", description = "planner: fewest decode workers (default: ${DEFAULT-VALUE})")
    int minDecode;

    @Option(names = "--max-decode", defaultValue = "4", description = "planner: most decode workers (default: ${DEFAULT-VALUE})")
    int maxDecode;

    @Option(names = "--cooldown-ms", defaultValue = "" + PlannerConfig.DEFAULT_COOLDOWN_MS,
            description = "planner: after a pool changes, no further change of it for this long (default: ${DEFAULT-VALUE})")
    long cooldownMs;

    @Option(names = "--scale-down-hold-ms", defaultValue = "" + PlannerConfig.DEFAULT_SCALE_DOWN_HOLD_MS,
            description = "planner: a pool shrinks only after latency has stayed under half its objective, with "
                    + "nothing waiting, this long (default: ${DEFAULT-VALUE})")
    long scaleDownHoldMs;

    @Option(names = "--window-ms", defaultValue = "" + PlannerConfig.DEFAULT_WINDOW_MS,
            description = "planner: the window latency quantiles cover (default: ${DEFAULT-VALUE})")
    long windowMs;

    @Option(names = "--planner-interval-ms", defaultValue = "2000",
            description = "planner: how often it scrapes the frontend and decides (default: ${DEFAULT-VALUE})")
    long intervalMs;

    PlannerConfig config() {
        return new PlannerConfig(ttftSloMs, itlSloMs, minPrefill, maxPrefill, minDecode, maxDecode, cooldownMs,
                scaleDownHoldMs, PlannerConfig.DEFAULT_HEADROOM_RATIO, PlannerConfig.DEFAULT_QUEUE_PER_WORKER, windowMs);
    }
}
