package dev.tandem.runtime.transfer;

/**
 * The check a transfer server makes before serving blocks {@code first .. first+count-1} of its
 * pool under a handle (a TCP READ, each run of a UCX AUTH): the range lies in the pool, and the
 * {@link ReadGuard} says the handle's pin still holds it. Both transports answer a refusal with
 * the same error codes ({@link TcpFrame}'s ERROR codes) and messages.
 *
 * <p>Stateless; safe for concurrent use.
 */
final class ServedRange {
    /** Why the blocks are not served: a {@link TcpFrame} ERROR code and a message for the puller. */
    record Refusal(short code, String message) {
    }

    private ServedRange() {
    }

    /** Null when the blocks may be sent, otherwise why not. */
    static Refusal check(KvMemory pool, ReadGuard guard, long handleId, int first, int count) {
        if (first < 0 || count <= 0 || (long) first + count > pool.blockCount()) {
            return new Refusal(TcpFrame.ERR_OUT_OF_RANGE,
                    "blocks " + first + "+" + count + " outside pool of " + pool.blockCount() + " blocks");
        }
        if (!guard.mayRead(handleId, first, count)) {
            return new Refusal(TcpFrame.ERR_NOT_PINNED,
                    "blocks " + first + "+" + count + " are not pinned by handle " + handleId);
        }
        return null;
    }
}
