package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * {@code shared-prefix}: G groups of K single-turn chat requests; the requests of a group share a
 * long system prompt (the prefix) and differ in their user message (the suffix). The G x K
 * requests are offered in a seeded shuffled order, so a group's requests are spread over the run.
 *
 * @param groups           G, &gt;= 1
 * @param requestsPerGroup K, &gt;= 1
 * @param prefixWords      words in each group's system prompt, &gt;= 1
 * @param suffixWords      words in each request's user message, &gt;= 1
 * @param maxTokens        reply length limit, &gt;= 1
 * @param seed             picks the words and the order
 */
public record SharedPrefixWorkload(int groups, int requestsPerGroup, int prefixWords, int suffixWords, int maxTokens,
                                   long seed) implements Workload {
    public SharedPrefixWorkload {
        if (groups < 1 || requestsPerGroup < 1) {
            throw new ConfigException("--groups and --requests-per-group must be >= 1, got " + groups + " and "
                    + requestsPerGroup);
        }
        if (prefixWords < 1 || suffixWords < 1) {
            throw new ConfigException("--prefix-words and --suffix-words must be >= 1, got " + prefixWords + " and "
                    + suffixWords);
        }
        if (maxTokens < 1) {
            throw new ConfigException("--max-tokens must be >= 1, got " + maxTokens);
        }
    }

    @Override
    public String name() {
        return "shared-prefix";
    }

    @Override
    public String describe() {
        return "shared-prefix: " + groups + " groups x " + requestsPerGroup + " requests, " + prefixWords
                + "-word shared system prompt, " + suffixWords + "-word user message, max_tokens " + maxTokens
                + ", seed " + seed;
    }

    @Override
    public List<Session> sessions() {
        List<int[]> order = new ArrayList<>(groups * requestsPerGroup);
        for (int g = 0; g < groups; g++) {
            for (int r = 0; r < requestsPerGroup; r++) {
                order.add(new int[] {g, r});
            }
        }
        Collections.shuffle(order, new Random(seed));
        List<String> prefixes = new ArrayList<>(groups);
        for (int g = 0; g < groups; g++) {
            prefixes.add(Words.text(seed, -1L - g, prefixWords));
        }
        List<Session> out = new ArrayList<>(order.size());
        for (int[] gr : order) {
            long stream = (long) gr[0] * requestsPerGroup + gr[1];
            Step step = new Step.UserTurn(Words.text(seed, stream, suffixWords), maxTokens);
            out.add(new Session(out.size(), prefixes.get(gr[0]), List.of(step), 0));
        }
        return out;
    }

    @Override
    public SharedPrefixWorkload withSeed(long s) {
        return new SharedPrefixWorkload(groups, requestsPerGroup, prefixWords, suffixWords, maxTokens, s);
    }
}
