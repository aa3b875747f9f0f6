package dev.tandem.engine.kvcache;

import dev.tandem.core.BlockHasher;
import java.util.Arrays;

/**
 * One sequence's view of the KV cache: the blocks that hold its positions, in order, and the
 * hashes of its full token blocks.
 *
 * <pre>
 * blocks:       | b0 | b1 | ... | b(blockCount-1) |          position p lives in blocks[p / blockSize]
 * hashes:       | seq/local hash of token block 0 | 1 | ... | hashedCount-1 |   full token blocks only
 * committed:    leading blocks already in the prefix cache (ours or shared) or known duplicates
 * </pre>
 * {@code hashedCount} can run ahead of {@code blockCount} (a prompt's hashes are computed before
 * any block is allocated) and {@code committedCount <= min(hashedCount, blockCount)}.
 *
 * <p>Owned by the engine thread once the sequence is submitted; hashes of the prompt may be
 * computed by the submitting thread before the hand-off.
 */
public final class BlockTable {
    private final int blockSize;
    private final int[] blocks;      // [capacityBlocks] block ids; entries >= blockCount are stale
    private final long[] seqHashes;  // [capacityBlocks] chained hash of full token block i
    private final long[] localHashes; // [capacityBlocks] the block's own token hash
    int blockCount;
    int hashedCount;
    int committedCount;

    /**
     * @param blockSize      tokens per block
     * @param capacityTokens most positions the sequence will ever hold
     */
    public BlockTable(int blockSize, int capacityTokens) {
        if (blockSize <= 0 || capacityTokens <= 0) {
            throw new IllegalArgumentException("blockSize=" + blockSize + " capacityTokens=" + capacityTokens);
        }
        this.blockSize = blockSize;
        int capacity = (capacityTokens + blockSize - 1) / blockSize;
        this.blocks = new int[capacity];
        this.seqHashes = new long[capacity];
        this.localHashes = new long[capacity];
    }

    /**
     * Computes the hashes of every full token block of {@code tokens[0 .. tokenCount)} not hashed
     * yet. Cheap to call after every appended token: it hashes only newly completed blocks.
     */
    public void hashFullBlocks(int[] tokens, int tokenCount) {
        int full = Math.min(tokenCount / blockSize, seqHashes.length);
        for (int i = hashedCount; i < full; i++) {
            long local = BlockHasher.localHash(tokens, i * blockSize, blockSize);
            localHashes[i] = local;
            seqHashes[i] = i == 0 ? local : BlockHasher.chain(seqHashes[i - 1], local);
        }
        if (full > hashedCount) {
            hashedCount = full;
        }
    }

    public int blockSize() {
        return blockSize;
    }

    /** The block ids; only the first {@link #blockCount()} are valid. Referenced by forward batches. */
    public int[] blocks() {
        return blocks;
    }

    public int block(int index) {
        if (index >= blockCount) {
            throw new IndexOutOfBoundsException("block " + index + " of " + blockCount);
        }
        return blocks[index];
    }

    public int blockCount() {
        return blockCount;
    }

    /** Most blocks this table can hold. */
    public int capacityBlocks() {
        return blocks.length;
    }

    /** Positions the allocated blocks cover. */
    public int capacityTokensAllocated() {
        return blockCount * blockSize;
    }

    public int hashedCount() {
        return hashedCount;
    }

    public long sequenceHash(int index) {
        checkHashed(index);
        return seqHashes[index];
    }

    public long localHash(int index) {
        checkHashed(index);
        return localHashes[index];
    }

    /** Leading blocks that are registered in the prefix cache (by this sequence or another). */
    public int committedCount() {
        return committedCount;
    }

    /** A copy of the valid block ids. */
    public int[] blockIds() {
        return Arrays.copyOf(blocks, blockCount);
    }

    /** Blocks needed to hold {@code tokenCount} positions. */
    public int blocksFor(int tokenCount) {
        return (tokenCount + blockSize - 1) / blockSize;
    }

    void append(int block) {
        blocks[blockCount++] = block;
    }

    /** Forgets every block (after the manager released them); keeps the hashes. */
    void clearBlocks() {
        blockCount = 0;
        committedCount = 0;
    }

    private void checkHashed(int index) {
        if (index < 0 || index >= hashedCount) {
            throw new IndexOutOfBoundsException("hash " + index + " of " + hashedCount);
        }
    }

    @Override
    public String toString() {
        return "BlockTable[blocks=" + Arrays.toString(blockIds()) + ", hashed=" + hashedCount
                + ", committed=" + committedCount + "]";
    }
}
