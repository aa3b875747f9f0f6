package dev.tandem.bench;

import dev.tandem.core.ConfigException;

/**
 * Request fields every benchmark request carries.
 *
 * @param model       the model name sent
 * @param temperature sampling temperature, &gt;= 0 (0 = greedy: the same replies every run)
 * @param seed        sent as {@code seed}, for servers that sample with one
 * @param ignoreEos   sends {@code "ignore_eos": true} (a vLLM / Tandem extension) so every request
 *                    generates exactly max_tokens tokens; servers without it ignore the field
 */
public record RequestOptions(String model, double temperature, long seed, boolean ignoreEos) {
    public RequestOptions {
        if (model == null || model.isBlank()) {
            throw new ConfigException("the model name is missing (--model)");
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new ConfigException("--temperature must be >= 0, got " + temperature);
        }
    }
}
