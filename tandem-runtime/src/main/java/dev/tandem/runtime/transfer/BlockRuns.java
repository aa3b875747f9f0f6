package dev.tandem.runtime.transfer;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/** Pairs source with destination block ids and coalesces them into {@link BlockRun}s. */
public final class BlockRuns {
    /**
     * Bytes {@link #copy} moves between deadline checks: a memory copy cannot be interrupted, so
     * its deadline is checked, not enforced, and is overrun by at most one chunk's copy time.
     */
    static final long COPY_CHUNK_BYTES = 64L << 20;

    private BlockRuns() {
    }

    /**
     * Coalesces {@code source[i] -> destination[i]} into runs: a new run starts wherever either
     * side is not the previous id plus one. Order is kept, so the runs cover the pairs in the
     * order given.
     *
     * @throws IllegalArgumentException if the arrays differ in length, are empty, hold an id
     *         outside {@code [0, sourceBlocks)} or {@code [0, destinationBlocks)}, or name a
     *         destination block twice
     */
    public static List<BlockRun> coalesce(int[] source, int[] destination, int sourceBlocks, int destinationBlocks) {
        if (source.length != destination.length) {
            throw new IllegalArgumentException("source has " + source.length + " block ids but destination has "
                    + destination.length);
        }
        if (source.length == 0) {
            throw new IllegalArgumentException("no blocks to transfer");
        }
        BitSet seen = new BitSet(destinationBlocks);
        for (int i = 0; i < source.length; i++) {
            if (source[i] < 0 || source[i] >= sourceBlocks) {
                throw new IllegalArgumentException("source block " + source[i] + " outside pool of " + sourceBlocks);
            }
            if (destination[i] < 0 || destination[i] >= destinationBlocks) {
                throw new IllegalArgumentException("destination block " + destination[i] + " outside pool of "
                        + destinationBlocks);
            }
            if (seen.get(destination[i])) {
                throw new IllegalArgumentException("destination block " + destination[i] + " named twice");
            }
            seen.set(destination[i]);
        }
        List<BlockRun> runs = new ArrayList<>();
        int start = 0;
        for (int i = 1; i <= source.length; i++) {
            boolean breaks = i == source.length || source[i] != source[i - 1] + 1
                    || destination[i] != destination[i - 1] + 1;
            if (breaks) {
                runs.add(new BlockRun(source[start], destination[start], i - start));
                start = i;
            }
        }
        return runs;
    }

    /** Splits runs longer than {@code maxBlocks} (for transports that bound one copy's size). */
    public static List<BlockRun> split(List<BlockRun> runs, int maxBlocks) {
        if (maxBlocks <= 0) {
            throw new IllegalArgumentException("maxBlocks=" + maxBlocks);
        }
        List<BlockRun> out = new ArrayList<>(runs.size());
        for (BlockRun r : runs) {
            for (int done = 0; done < r.blockCount(); done += maxBlocks) {
                out.add(new BlockRun(r.sourceFirst() + done, r.destinationFirst() + done,
                        Math.min(maxBlocks, r.blockCount() - done)));
            }
        }
        return out;
    }

    /**
     * Copies every run from {@code source} to {@code destination}, both pools of
     * {@code blockBytes}-byte blocks, in chunks of at most {@link #COPY_CHUNK_BYTES}, checking
     * the deadline before each chunk. Exceptions of the segments (a closed arena, a truncated
     * mapping) reach the caller.
     *
     * @return false if the deadline passed first; the destination blocks then hold no valid data
     */
    static boolean copy(List<BlockRun> runs, long blockBytes, MemorySegment source, MemorySegment destination,
                        Deadline deadline) {
        for (BlockRun run : runs) {
            long runBytes = run.blockCount() * blockBytes;
            long sourceOffset = run.sourceFirst() * blockBytes;
            long destinationOffset = run.destinationFirst() * blockBytes;
            for (long done = 0; done < runBytes; done += COPY_CHUNK_BYTES) {
                if (deadline.expired()) {
                    return false;
                }
                long n = Math.min(COPY_CHUNK_BYTES, runBytes - done);
                MemorySegment.copy(source, sourceOffset + done, destination, destinationOffset + done, n);
            }
        }
        return true;
    }

    /** Total blocks in {@code runs}. */
    public static int blockCount(List<BlockRun> runs) {
        int n = 0;
        for (BlockRun r : runs) {
            n += r.blockCount();
        }
        return n;
    }
}
