package dev.tandem.runtime.transfer;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

/** Pairs source with destination block ids and coalesces them into {@link BlockRun}s. */
public final class BlockRuns {
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

    /** Total blocks in {@code runs}. */
    public static int blockCount(List<BlockRun> runs) {
        int n = 0;
        for (BlockRun r : runs) {
            n += r.blockCount();
        }
        return n;
    }
}
