package dev.tandem.worker.upstream;

import dev.tandem.core.ConfigException;
import java.util.Locale;

/**
 * Which kind of server an upstream engine talks to; it decides the endpoint and the fields used.
 *
 * <ul>
 *   <li>{@link #LLAMA_SERVER}: llama.cpp's {@code llama-server}, native {@code POST /completion}
 *       with {@code prompt: [ids]}, {@code return_tokens} (the generated ids), {@code n_probs}
 *       (logprobs) and {@code timings.cache_n} (prompt tokens it served from its cache);</li>
 *   <li>{@link #VLLM}, {@link #SGLANG}, {@link #OPENAI}: {@code POST /v1/completions} with
 *       {@code prompt: [ids]}; generated ids from {@code token_ids} where the server returns them
 *       ({@code return_token_ids}, vLLM), otherwise the text is tokenised again (exact only when the
 *       pieces round-trip); cached prompt tokens from {@code usage.prompt_tokens_details}.</li>
 * </ul>
 */
public enum UpstreamKind {
    LLAMA_SERVER("llama-server"),
    VLLM("vllm"),
    SGLANG("sglang"),
    OPENAI("openai");

    private final String label;

    UpstreamKind(String label) {
        this.label = label;
    }

    /** The name on the command line. */
    public String label() {
        return label;
    }

    /** Whether requests go to the OpenAI endpoint ({@code /v1/completions}). */
    public boolean openAi() {
        return this != LLAMA_SERVER;
    }

    /** {@code llama-server}, {@code vllm}, {@code sglang} or {@code openai}; null or {@code auto} is null (detect). */
    public static UpstreamKind parse(String text) {
        if (text == null || text.equalsIgnoreCase("auto")) {
            return null;
        }
        for (UpstreamKind k : values()) {
            if (k.label.equalsIgnoreCase(text.trim()) || k.name().equalsIgnoreCase(text.trim())) {
                return k;
            }
        }
        throw new ConfigException("--upstream-kind must be auto, llama-server, vllm, sglang or openai, got '"
                + text + "'");
    }

    @Override
    public String toString() {
        return label.toLowerCase(Locale.ROOT);
    }
}
