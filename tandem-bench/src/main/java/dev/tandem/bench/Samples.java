package dev.tandem.bench;

import java.util.List;

/**
 * The raw latency samples of a run's successful requests, in ms: what {@link RunSummary}
 * summarises and the charts draw as CDFs. TTFT leaves out requests that produced no text; TPOT
 * leaves out requests with fewer than 2 output tokens; ITL pools every chunk gap.
 */
public record Samples(double[] ttftMs, double[] itlMs, double[] tpotMs, double[] e2eMs, double[] lagMs) {

    public static Samples of(List<RequestResult> results) {
        List<RequestResult> ok = results.stream().filter(RequestResult::ok).toList();
        return new Samples(
                ok.stream().mapToLong(RequestResult::ttftNs).filter(v -> v >= 0).mapToDouble(v -> v / 1e6).toArray(),
                ok.stream().flatMapToLong(r -> java.util.Arrays.stream(r.itlNs())).mapToDouble(v -> v / 1e6).toArray(),
                ok.stream().mapToDouble(RequestResult::tpotNs).filter(v -> v >= 0).map(v -> v / 1e6).toArray(),
                ok.stream().mapToDouble(r -> r.e2eNs() / 1e6).toArray(),
                ok.stream().mapToDouble(r -> r.dispatchLagNs() / 1e6).toArray());
    }
}
