package dev.tandem.bench;

import java.util.Map;
import java.util.TreeMap;

/**
 * The aggregate of one run (one arrival setting against one server).
 *
 * <h2>Design</h2>
 * Aggregation is exact and happens once, after the run: every request's timestamps are kept
 * ({@link RequestResult}), the samples are sorted and read with the percentile definition of
 * {@link Distribution} (a few thousand requests sort in microseconds, so no histogram
 * approximation is needed, and the figures can be checked by hand). The rules:
 * <ul>
 *   <li>latency distributions use successful requests only (a failed request has no meaningful
 *       TTFT; failures are counted by type instead);</li>
 *   <li>ITL pools every gap of every successful request, so long replies weigh more (as in vLLM's
 *       and SGLang's benchmarks); TPOT is one value per request with 2 or more output tokens;</li>
 *   <li>throughputs divide by the run's wall time, from its start to the end of its last request:
 *       requests/s counts successful requests, tokens/s the tokens of their usage;</li>
 *   <li>the cache hit rate is sum(cached_tokens) / sum(prompt_tokens) over successful requests
 *       whose usage reports {@code prompt_tokens_details.cached_tokens} (token-weighted, like a
 *       server's own counter); null when none does, never a guessed 0;</li>
 *   <li>goodput is good requests ({@link Slo#good}) per second of the same wall time; null when
 *       no limit is set.</li>
 * </ul>
 *
 * <h2>Invariants</h2>
 * {@code succeeded + sum(errors) == requests}; every distribution's count is at most the
 * number of successful requests (ITL excepted: it counts gaps).
 *
 * <h2>References</h2>
 * vLLM {@code benchmarks/benchmark_serving.py} (TTFT, TPOT, ITL, goodput definitions); DistServe
 * (OSDI '24) for goodput under TTFT and TPOT limits.
 *
 * @param label            the run's arrival setting (c=8, rate=2.0/s, ...) or configuration
 * @param requests         requests sent
 * @param succeeded        requests that ended with {@code [DONE]}
 * @param skippedTurns     conversation turns never sent because an earlier turn failed
 * @param errors           failed requests by error type (http_429, timeout, connection, ...)
 * @param durationS        seconds
 * @param promptTokens     sum of usage.prompt_tokens (successful requests reporting it)
 * @param outputTokens     sum of output tokens (usage, else chunks) of successful requests
 * @param cachedTokens     sum of usage.prompt_tokens_details.cached_tokens
 * @param cacheReported    successful requests that reported cached tokens
 * @param cacheHitRate     cached / prompt tokens over those, or null
 * @param ttftMs           time to first token
 * @param itlMs            inter-token latency (gaps between chunks)
 * @param tpotMs           time per output token
 * @param e2eMs            end-to-end latency
 * @param dispatchLagMs    how late requests left against their arrival time (open loops)
 * @param goodputRps       good requests per second, or null
 * @param goodFraction     good / sent, or null
 */
public record RunSummary(String label, int requests, int succeeded, int skippedTurns, Map<String, Integer> errors,
                         double durationS, double requestsPerS, double outputTokensPerS, double promptTokensPerS,
                         long promptTokens, long outputTokens, long cachedTokens, int cacheReported,
                         Double cacheHitRate, Distribution ttftMs, Distribution itlMs, Distribution tpotMs,
                         Distribution e2eMs, Distribution dispatchLagMs, Slo slo, Double goodputRps,
                         Double goodFraction) {

    public RunSummary {
        errors = Map.copyOf(errors);
    }

    public int failed() {
        return requests - succeeded;
    }

    /** Checks the invariants of the design notes; throws IllegalStateException naming the first broken one. */
    public void checkInvariants() {
        int errorCount = errors.values().stream().mapToInt(Integer::intValue).sum();
        if (succeeded + errorCount != requests) {
            throw new IllegalStateException(succeeded + " succeeded + " + errorCount + " failed != " + requests + " sent");
        }
        for (Distribution d : java.util.List.of(ttftMs, tpotMs, e2eMs, dispatchLagMs)) {
            if (d.count() > succeeded) {
                throw new IllegalStateException("a distribution has " + d.count() + " samples but only " + succeeded
                        + " requests succeeded");
            }
        }
    }

    public static RunSummary of(String label, LoadRunner.Outcome outcome, Slo slo) {
        Samples s = Samples.of(outcome.results());
        double durationS = outcome.durationNs() / 1e9;
        Map<String, Integer> errors = new TreeMap<>();
        long prompt = 0;
        long output = 0;
        long cached = 0;
        long promptOfCacheReporters = 0;
        int cacheReported = 0;
        int succeeded = 0;
        int good = 0;
        for (RequestResult r : outcome.results()) {
            if (slo.good(r)) {
                good++;
            }
            if (!r.ok()) {
                errors.merge(r.errorType(), 1, Integer::sum);
                continue;
            }
            succeeded++;
            output += r.outputTokens();
            if (r.promptTokens() >= 0) {
                prompt += r.promptTokens();
                if (r.cachedTokens() >= 0) {
                    cacheReported++;
                    cached += r.cachedTokens();
                    promptOfCacheReporters += r.promptTokens();
                }
            }
        }
        int sent = outcome.results().size();
        Double hitRate = cacheReported == 0 || promptOfCacheReporters == 0 ? null
                : (double) cached / promptOfCacheReporters;
        return new RunSummary(label, sent, succeeded, outcome.skippedTurns(), errors, durationS,
                succeeded / durationS, output / durationS, prompt / durationS, prompt, output, cached, cacheReported,
                hitRate, Distribution.of(s.ttftMs()), Distribution.of(s.itlMs()), Distribution.of(s.tpotMs()),
                Distribution.of(s.e2eMs()), Distribution.of(s.lagMs()), slo,
                slo.any() ? good / durationS : null, slo.any() && sent > 0 ? (double) good / sent : null);
    }
}
