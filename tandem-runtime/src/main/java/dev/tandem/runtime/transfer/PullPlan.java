package dev.tandem.runtime.transfer;

import dev.tandem.core.KvLayout;
import dev.tandem.core.TransferKind;
import java.util.List;

/**
 * The checks every transport makes before any byte moves, and their outcome: either the
 * coalesced runs to copy, or the failure to return.
 *
 * @param runs    coalesced runs, in request order (empty when failed)
 * @param blocks  blocks requested
 * @param bytes   payload bytes requested
 * @param failure why the pull must not start, or null
 */
record PullPlan(List<BlockRun> runs, int blocks, long bytes, TransferResult.Failed failure) {

    /**
     * Checks the layouts, the deadline and the block ids, and coalesces the ids into runs.
     *
     * @param sourceBlockCount blocks in the source pool, or {@link Integer#MAX_VALUE} when only
     *                         the serving side knows (it checks again)
     */
    static PullPlan prepare(TransferKind kind, PullSource source, int[] sourceBlocks, int sourceBlockCount,
                            KvMemory destination, int[] destinationBlocks, Deadline deadline) {
        String mismatch = layoutMismatch(source.layout(), destination.layout());
        if (mismatch != null) {
            return failed(kind, TransferFailure.LAYOUT_MISMATCH, "from " + source.endpoint() + ": " + mismatch);
        }
        if (deadline.expired()) {
            return failed(kind, TransferFailure.DEADLINE, "deadline passed before the pull from "
                    + source.endpoint() + " started");
        }
        try {
            List<BlockRun> runs = BlockRuns.coalesce(sourceBlocks, destinationBlocks, sourceBlockCount,
                    destination.blockCount());
            return new PullPlan(runs, sourceBlocks.length, sourceBlocks.length * destination.blockBytes(), null);
        } catch (IllegalArgumentException e) {
            return failed(kind, TransferFailure.INVALID_REQUEST, "from " + source.endpoint() + ": " + e.getMessage());
        }
    }

    private static PullPlan failed(TransferKind kind, TransferFailure reason, String message) {
        return new PullPlan(List.of(), 0, 0, new TransferResult.Failed(kind, reason, message, null));
    }

    /**
     * Null when the layouts are equal, otherwise a message naming every field that differs:
     * blocks are copied byte for byte, so block size, layers, KV heads, head dimension and
     * element type must all agree.
     */
    static String layoutMismatch(KvLayout source, KvLayout destination) {
        if (source.equals(destination)) {
            return null;
        }
        StringBuilder diff = new StringBuilder();
        field(diff, "blockSize", source.blockSizeTokens(), destination.blockSizeTokens());
        field(diff, "layers", source.layerCount(), destination.layerCount());
        field(diff, "kvHeads", source.kvHeadCount(), destination.kvHeadCount());
        field(diff, "headDim", source.headDim(), destination.headDim());
        field(diff, "dtype", source.dtype(), destination.dtype());
        return "KV layout mismatch (" + diff + "): source " + source.describe() + ", destination "
                + destination.describe();
    }

    private static void field(StringBuilder diff, String name, Object source, Object destination) {
        if (!source.equals(destination)) {
            diff.append(diff.isEmpty() ? "" : ", ").append(name).append(' ').append(source).append(" != ")
                    .append(destination);
        }
    }
}
