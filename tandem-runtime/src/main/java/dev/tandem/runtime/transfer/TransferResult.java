package dev.tandem.runtime.transfer;

import dev.tandem.core.TransferKind;

/** Outcome of one pull: either every requested block arrived, or none may be used. */
public sealed interface TransferResult permits TransferResult.Done, TransferResult.Failed {
    TransferKind kind();

    /** The completed pull, or a {@link TransferException} naming why it failed. */
    Done orThrow();

    /**
     * Every destination block now holds its source block's bytes.
     *
     * @param bytes  payload bytes moved
     * @param blocks blocks moved
     * @param runs   coalesced copies (or wire requests) used
     * @param nanos  wall time of the pull
     */
    record Done(TransferKind kind, long bytes, int blocks, int runs, long nanos) implements TransferResult {
        @Override
        public Done orThrow() {
            return this;
        }

        /** Bytes per second of wall time. */
        public double bytesPerSecond() {
            return nanos == 0 ? Double.POSITIVE_INFINITY : bytes * 1e9 / nanos;
        }
    }

    /**
     * The pull failed; the destination blocks hold no valid data.
     *
     * @param reason  what went wrong
     * @param message names the peer and the offending values
     * @param cause   the underlying exception, or null
     */
    record Failed(TransferKind kind, TransferFailure reason, String message, Throwable cause) implements TransferResult {
        @Override
        public Done orThrow() {
            throw new TransferException(reason, kind.label() + " transfer failed (" + reason + "): " + message, cause);
        }
    }
}
