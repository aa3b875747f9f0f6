package dev.tandem.runtime.transfer;

import dev.tandem.core.TransferKind;

/**
 * Moves KV blocks from a peer's pool into this worker's pool. One implementation per
 * {@link TransferKind}; {@link TransportSelector} picks one per pair of workers.
 *
 * <p>Contract of {@link #pull}: the source and destination layouts are compared before any byte
 * moves ({@link TransferFailure#LAYOUT_MISMATCH}); runs of consecutive ids on both sides move as
 * single copies; the call returns by {@code deadline} (plus the time to notice it, milliseconds)
 * whatever the peer does; a {@link TransferResult.Done} means every destination block holds its
 * source block's bytes, a {@link TransferResult.Failed} means none may be used. Implementations
 * are safe for concurrent use: several pulls may run at once from any threads, provided their
 * destination blocks do not overlap.
 */
public interface KvTransport extends AutoCloseable {
    TransferKind kind();

    /**
     * Copies {@code sourceBlocks[i]} of the source pool into {@code destinationBlocks[i]} of
     * {@code destination}, for every i.
     */
    TransferResult pull(PullSource source, int[] sourceBlocks, KvMemory destination, int[] destinationBlocks,
                        Deadline deadline);

    /** Releases connections, mappings and threads; pulls after close fail. */
    @Override
    void close();
}
