package dev.tandem.core;

import java.util.Objects;

/**
 * A prompt already prefilled by another worker: what a decode worker needs to continue it
 * without computing the prompt itself (the decode half of a disaggregated request, carried by
 * {@link GenerateRequest#remotePrefill()}).
 *
 * @param firstToken     the token the prefill worker sampled after the prompt; the decode worker
 *                       streams it as the request's first token and continues from it
 * @param handle         the prompt's pinned blocks on the prefill worker
 * @param prefillAddress the prefill worker's request-plane address ({@code host:port}), where the
 *                       decode worker sends the release of the pin once it has pulled the blocks
 *                       (an in-process worker is found by {@code handle.workerId()} first)
 * @param required       true when remote prefill is enforced: if the blocks cannot be pulled the
 *                       request fails (UNAVAILABLE) instead of being prefilled locally
 */
public record RemotePrefill(GeneratedToken firstToken, KvHandle handle, String prefillAddress, boolean required) {
    public RemotePrefill {
        Objects.requireNonNull(firstToken, "firstToken");
        Objects.requireNonNull(handle, "handle");
        if (prefillAddress == null) {
            prefillAddress = "";
        }
    }
}
