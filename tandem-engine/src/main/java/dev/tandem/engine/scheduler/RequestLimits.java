package dev.tandem.engine.scheduler;

import dev.tandem.core.GenerateRequest;
import dev.tandem.core.RequestException;

/**
 * What one engine can take: prompt ids inside the vocabulary, prompt plus {@code max_tokens}
 * inside the context and inside the KV pool. Checked when a request is submitted, on the caller's
 * thread, so a request that could never run fails at once with the field at fault.
 *
 * @param promptVocabSize prompt ids must be in [0, promptVocabSize)
 * @param contextLength   the model's context length, tokens
 * @param blockSize       tokens per KV block
 * @param totalBlocks     blocks in the pool
 */
record RequestLimits(int promptVocabSize, int contextLength, int blockSize, int totalBlocks) {

    /** @throws RequestException (INVALID, naming {@code prompt} or {@code max_tokens}) if the request cannot run here */
    void check(GenerateRequest request) {
        int p = request.promptLength();
        for (int i = 0; i < p; i++) {
            int t = request.promptToken(i);
            if (t < 0 || t >= promptVocabSize) {
                throw new RequestException(RequestException.Kind.INVALID, "prompt token id " + t + " at position " + i
                        + " is outside the vocabulary of " + promptVocabSize + " tokens", "prompt", null);
            }
        }
        long positions = (long) p + request.maxTokens();
        if (positions > contextLength) {
            throw new RequestException(RequestException.Kind.INVALID, "the prompt (" + p + " tokens) plus max_tokens ("
                    + request.maxTokens() + ") exceeds the context length of " + contextLength + " tokens",
                    p >= contextLength ? "prompt" : "max_tokens", null);
        }
        // the last sampled token's K/V is never computed
        long needBlocks = (positions - 1 + blockSize - 1) / blockSize;
        if (needBlocks > totalBlocks) {
            throw new RequestException(RequestException.Kind.INVALID, "the prompt (" + p + " tokens) plus max_tokens ("
                    + request.maxTokens() + ") needs " + needBlocks + " KV blocks of " + blockSize
                    + " tokens, but the pool holds only " + totalBlocks, "max_tokens", null);
        }
    }
}
