package dev.tandem.engine.model;

/**
 * The input of one forward step: several sequences, each contributing a run of consecutive
 * positions (a prompt chunk, or the one token a decoding sequence appends).
 *
 * <pre>
 * tokens:        | seq 0: tokenCount(0) ids | seq 1: ... | ...        (sequence-major)
 * sequence s:    positions startPosition(s) .. startPosition(s) + tokenCount(s) - 1
 * blockTable(s): block ids covering positions 0 .. startPosition(s) + tokenCount(s) - 1;
 *                position p lives in block blockTable(s)[p / blockSize], slot p % blockSize
 * </pre>
 * Positions below {@code startPosition(s)} are already in the KV cache (an earlier step or a
 * cached prefix); the forward pass writes K and V of the new positions and attends over all.
 *
 * <p>Owned by the scheduler thread and reused from step to step: {@link #clear()} then
 * {@link #add} per sequence. No allocation in steady state.
 */
public final class ForwardBatch {
    private final int maxSequences;
    private final int[] tokens;          // [maxTokens] token ids
    private final int[] tokenStart;      // [maxSequences] index of the sequence's first token in tokens
    private final int[] tokenCount;      // [maxSequences] tokens the sequence contributes
    private final int[] startPosition;   // [maxSequences] position of its first new token
    private final int[][] blockTables;   // [maxSequences] -> block ids (referenced, not copied)
    private final boolean[] wantsLogits; // [maxSequences] logits of its last token wanted
    private int sequenceCount;
    private int totalTokens;

    /**
     * @param maxSequences most sequences per step
     * @param maxTokens    most tokens per step
     */
    public ForwardBatch(int maxSequences, int maxTokens) {
        if (maxSequences <= 0 || maxTokens <= 0) {
            throw new IllegalArgumentException("maxSequences=" + maxSequences + " maxTokens=" + maxTokens);
        }
        this.maxSequences = maxSequences;
        this.tokens = new int[maxTokens];
        this.tokenStart = new int[maxSequences];
        this.tokenCount = new int[maxSequences];
        this.startPosition = new int[maxSequences];
        this.blockTables = new int[maxSequences][];
        this.wantsLogits = new boolean[maxSequences];
    }

    public void clear() {
        for (int s = 0; s < sequenceCount; s++) {
            blockTables[s] = null;
        }
        sequenceCount = 0;
        totalTokens = 0;
    }

    /**
     * Adds a sequence's run of tokens {@code ids[from .. from+count)} at positions
     * {@code startPosition ..}. {@code blockTable} is referenced, not copied, and must cover
     * every position up to {@code startPosition + count - 1}.
     *
     * @return the sequence's index in this batch (its logits row)
     */
    public int add(int[] ids, int from, int count, int startPosition, int[] blockTable, boolean wantsLogits) {
        if (sequenceCount == maxSequences) {
            throw new IllegalStateException("batch full: " + maxSequences + " sequences");
        }
        if (count <= 0 || totalTokens + count > tokens.length) {
            throw new IllegalStateException("cannot add " + count + " tokens to a batch holding " + totalTokens
                    + " of " + tokens.length);
        }
        int s = sequenceCount++;
        System.arraycopy(ids, from, tokens, totalTokens, count);
        this.tokenStart[s] = totalTokens;
        this.tokenCount[s] = count;
        this.startPosition[s] = startPosition;
        this.blockTables[s] = blockTable;
        this.wantsLogits[s] = wantsLogits;
        totalTokens += count;
        return s;
    }

    public int sequenceCount() {
        return sequenceCount;
    }

    /** Tokens in this step over all sequences. */
    public int totalTokens() {
        return totalTokens;
    }

    public int maxSequences() {
        return maxSequences;
    }

    public int maxTokens() {
        return tokens.length;
    }

    /** Token id at flat index {@code i} (0 .. totalTokens). */
    public int token(int i) {
        return tokens[i];
    }

    public int tokenStart(int seq) {
        return tokenStart[seq];
    }

    public int tokenCount(int seq) {
        return tokenCount[seq];
    }

    public int startPosition(int seq) {
        return startPosition[seq];
    }

    /** Positions the sequence has after this step: {@code startPosition + tokenCount}. */
    public int endPosition(int seq) {
        return startPosition[seq] + tokenCount[seq];
    }

    public int[] blockTable(int seq) {
        return blockTables[seq];
    }

    public boolean wantsLogits(int seq) {
        return wantsLogits[seq];
    }
}
