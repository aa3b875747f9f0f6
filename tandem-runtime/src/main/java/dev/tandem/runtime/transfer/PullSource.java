package dev.tandem.runtime.transfer;

import dev.tandem.core.KvHandle;
import dev.tandem.core.KvLayout;
import dev.tandem.core.TransferEndpoint;

/**
 * The remote side of a pull: where the pool is, the layout its owner advertised, and the pin
 * (handle) that keeps the requested blocks unchanged.
 *
 * @param endpoint one of the serving worker's endpoints
 * @param layout   the serving pool's layout as advertised (checked against the destination
 *                 before any byte moves, and against the actual pool where the transport can see it)
 * @param handleId the pin under which the blocks are read (0 when the serving side does not check pins)
 */
public record PullSource(TransferEndpoint endpoint, KvLayout layout, long handleId) {
    public PullSource {
        if (endpoint == null || layout == null) {
            throw new IllegalArgumentException("pull source needs an endpoint and a layout");
        }
    }

    /** The source of a pull through {@code endpoint} under {@code handle}'s pin. */
    public static PullSource of(KvHandle handle, TransferEndpoint endpoint) {
        return new PullSource(endpoint, handle.layout(), handle.handleId());
    }
}
