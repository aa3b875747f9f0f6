package dev.tandem.runtime.transfer;

/**
 * {@code blockCount} consecutive source blocks from {@code sourceFirst} that land in
 * {@code blockCount} consecutive destination blocks from {@code destinationFirst}: one copy.
 */
public record BlockRun(int sourceFirst, int destinationFirst, int blockCount) {
    public BlockRun {
        if (sourceFirst < 0 || destinationFirst < 0 || blockCount <= 0) {
            throw new IllegalArgumentException("bad block run: source=" + sourceFirst + " destination="
                    + destinationFirst + " count=" + blockCount);
        }
    }
}
