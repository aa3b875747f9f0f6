package dev.tandem.runtime.transfer;

import dev.tandem.core.TransferKind;

/**
 * Receives one call per finished pull (on the pulling thread) and per served request (on the
 * serving thread). Implementations must be cheap and safe for concurrent use; exceptions they
 * throw are caught and logged, never seen by the transfer.
 */
public interface TransferListener {
    TransferListener NONE = new TransferListener() {
        @Override
        public void onPull(TransferResult result) {
        }
    };

    /** A pull finished, successfully or not. */
    void onPull(TransferResult result);

    /** This worker's server sent {@code bytes} of {@code blocks} blocks to a puller. */
    default void onServed(TransferKind kind, long bytes, int blocks) {
    }

    /** Calls {@code listener.onPull(result)}, logging instead of throwing; returns {@code result}. */
    static TransferResult report(TransferListener listener, TransferResult result) {
        try {
            listener.onPull(result);
        } catch (RuntimeException e) {
            logFailure(e);
        }
        return result;
    }

    /** Calls {@code listener.onServed(kind, bytes, blocks)}, logging instead of throwing. */
    static void served(TransferListener listener, TransferKind kind, long bytes, int blocks) {
        try {
            listener.onServed(kind, bytes, blocks);
        } catch (RuntimeException e) {
            logFailure(e);
        }
    }

    private static void logFailure(RuntimeException e) {
        System.getLogger(TransferListener.class.getName()).log(System.Logger.Level.WARNING,
                "transfer listener failed: " + e, e);
    }
}
