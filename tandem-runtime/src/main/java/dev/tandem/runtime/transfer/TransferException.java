package dev.tandem.runtime.transfer;

import dev.tandem.core.TandemException;

/** A KV transfer failed; {@link #reason()} says why. Thrown only by {@link TransferResult#orThrow()}. */
public final class TransferException extends TandemException {
    private final TransferFailure reason;

    public TransferException(TransferFailure reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public TransferFailure reason() {
        return reason;
    }
}
