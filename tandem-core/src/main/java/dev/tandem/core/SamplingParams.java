package dev.tandem.core;

/**
 * How the next token is chosen. The defaults reproduce greedy decoding.
 *
 * @param temperature       0 means greedy (argmax); otherwise logits are divided by it; range [0, 100]
 * @param topK              keep the k most likely tokens; 0 disables
 * @param topP              keep the smallest set whose probability reaches p; 1 disables; (0, 1]
 * @param minP              drop tokens below minP * p(most likely); 0 disables; [0, 1]
 * @param seed              seed of the per-request random stream; null draws one at random
 * @param repetitionPenalty llama.cpp / CTRL style: positive logits of seen tokens divided by it,
 *                          negative ones multiplied; 1 disables; (0, 10]
 * @param presencePenalty   OpenAI style: subtracted once from every token already generated or
 *                          in the prompt; 0 disables; [-2, 2]
 * @param frequencyPenalty  OpenAI style: subtracted per occurrence; 0 disables; [-2, 2]
 */
public record SamplingParams(float temperature, int topK, float topP, float minP, Long seed,
                             float repetitionPenalty, float presencePenalty, float frequencyPenalty) {

    public static final SamplingParams GREEDY = new SamplingParams(0f, 0, 1f, 0f, null, 1f, 0f, 0f);

    public SamplingParams {
        check(temperature >= 0f && temperature <= 100f, "temperature", temperature, "[0, 100]");
        check(topK >= 0, "top_k", topK, ">= 0");
        check(topP > 0f && topP <= 1f, "top_p", topP, "(0, 1]");
        check(minP >= 0f && minP <= 1f, "min_p", minP, "[0, 1]");
        check(repetitionPenalty > 0f && repetitionPenalty <= 10f, "repetition_penalty", repetitionPenalty, "(0, 10]");
        check(presencePenalty >= -2f && presencePenalty <= 2f, "presence_penalty", presencePenalty, "[-2, 2]");
        check(frequencyPenalty >= -2f && frequencyPenalty <= 2f, "frequency_penalty", frequencyPenalty, "[-2, 2]");
    }

    /** Greedy decoding: temperature 0. */
    public boolean greedy() {
        return temperature == 0f;
    }

    /** True when any penalty needs the token history. */
    public boolean hasPenalties() {
        return repetitionPenalty != 1f || presencePenalty != 0f || frequencyPenalty != 0f;
    }

    public SamplingParams withTemperature(float t) {
        return new SamplingParams(t, topK, topP, minP, seed, repetitionPenalty, presencePenalty, frequencyPenalty);
    }

    public SamplingParams withSeed(Long s) {
        return new SamplingParams(temperature, topK, topP, minP, s, repetitionPenalty, presencePenalty, frequencyPenalty);
    }

    private static void check(boolean ok, String param, Object value, String range) {
        if (!ok) {
            throw new RequestException(RequestException.Kind.INVALID,
                    param + " must be in " + range + ", got " + value, param, null);
        }
    }
}
