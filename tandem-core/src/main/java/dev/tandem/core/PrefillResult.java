package dev.tandem.core;

import java.util.Objects;

/**
 * What a prefill worker returns: the first generated token and the handle of the pinned prompt KV.
 *
 * @param firstToken   the token sampled after the prompt
 * @param handle       the pinned blocks; the decode worker pulls them and then releases the handle
 * @param usage        prompt accounting on the prefill worker (completion tokens = 1)
 */
public record PrefillResult(GeneratedToken firstToken, KvHandle handle, Usage usage) {
    public PrefillResult {
        Objects.requireNonNull(firstToken, "firstToken");
        Objects.requireNonNull(handle, "handle");
        Objects.requireNonNull(usage, "usage");
    }
}
