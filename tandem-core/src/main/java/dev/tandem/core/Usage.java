package dev.tandem.core;

/**
 * Token accounting of one finished request.
 *
 * @param promptTokens        tokens in the prompt
 * @param cachedPromptTokens  prompt tokens whose KV came from the worker's own prefix cache
 * @param transferredPromptTokens prompt tokens whose KV was pulled from a prefill worker
 * @param completionTokens    tokens generated
 */
public record Usage(int promptTokens, int cachedPromptTokens, int transferredPromptTokens, int completionTokens) {
    public Usage {
        if (promptTokens < 0 || cachedPromptTokens < 0 || transferredPromptTokens < 0 || completionTokens < 0
                || cachedPromptTokens + transferredPromptTokens > promptTokens) {
            throw new IllegalArgumentException("inconsistent usage: prompt=" + promptTokens + " cached="
                    + cachedPromptTokens + " transferred=" + transferredPromptTokens + " completion=" + completionTokens);
        }
    }

    /** Prompt tokens this worker computed itself. */
    public int computedPromptTokens() {
        return promptTokens - cachedPromptTokens - transferredPromptTokens;
    }

    public int totalTokens() {
        return promptTokens + completionTokens;
    }
}
