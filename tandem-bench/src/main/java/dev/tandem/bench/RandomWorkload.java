package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * {@code random}: independent single requests whose prompt and output lengths are drawn from the
 * given distributions; prompts are pseudo-random token ids or words (no two prompts share a
 * prefix beyond chance).
 *
 * @param requests     how many, &gt;= 1
 * @param inputLength  prompt tokens (words in text form)
 * @param outputLength max_tokens of each request
 * @param form         token ids or word text
 * @param firstTokenId smallest token id used (tokens form)
 * @param endTokenId   one past the largest token id used (tokens form)
 * @param seed         picks lengths and prompts
 */
public record RandomWorkload(int requests, LengthDistribution inputLength, LengthDistribution outputLength,
                             PromptForm form, int firstTokenId, int endTokenId, long seed) implements Workload {
    public RandomWorkload {
        if (requests < 1) {
            throw new ConfigException("--requests must be >= 1, got " + requests);
        }
        new TokenSpace(firstTokenId, endTokenId, 1, seed); // validates the range
    }

    @Override
    public String name() {
        return "random";
    }

    @Override
    public String describe() {
        return "random: " + requests + " requests, input " + inputLength + (form == PromptForm.TOKENS
                ? " token ids [" + firstTokenId + ", " + endTokenId + ")" : " words") + ", output " + outputLength
                + ", seed " + seed;
    }

    @Override
    public List<Session> sessions() {
        TokenSpace space = new TokenSpace(firstTokenId, endTokenId, 1, seed);
        SplittableRandom lengths = new SplittableRandom(seed);
        List<Session> out = new ArrayList<>(requests);
        for (int i = 0; i < requests; i++) {
            int in = inputLength.sample(lengths);
            int max = outputLength.sample(lengths);
            Step step = form == PromptForm.TOKENS
                    ? new Step.TokenCompletion(new TokenRecipe.Random(space, i, in), max)
                    : new Step.TextCompletion(Words.text(seed, i, in), max);
            out.add(new Session(i, null, List.of(step), 0));
        }
        return out;
    }

    @Override
    public RandomWorkload withSeed(long s) {
        return new RandomWorkload(requests, inputLength, outputLength, form, firstTokenId, endTokenId, s);
    }
}
