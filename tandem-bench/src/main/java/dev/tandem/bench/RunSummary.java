package dev.tandem.bench;

import java.util.Map;
import java.util.TreeMap;

/**
 * The aggregate of one run (one arrival setting against one server).
 *
 * <p>Aggregation rules: latency distributions use successful requests only (a failed request
 * has no meaningful TTFT); ITL pools every gap of every successful request (so long replies
 * weigh more, as in vLLM's benchmark), TPOT is one value per request with 2 or more output tokens.
 * Throughputs divide by the run's duration (start of the run to the end of its last request):
 * requests/s counts successful requests, tokens/s their usage's tokens. The cache hit rate is
 * sum(cached_tokens) / sum(prompt_tokens) over successful requests whose usage reports
 * {@code prompt_tokens_details.cached_tokens}; null when none does. Goodput is good requests
 * ({@link Slo#good}) per second; null when no limit is set.
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
