package dev.tandem.router;

/**
 * Per-decision scratch space for a prefix walk, reused through {@link Router}'s pool so a
 * routing decision allocates no arrays. Owned by one thread at a time.
 */
final class MatchScratch {
    /** Leading blocks held, by worker slot: [maxWorkers]. */
    final int[] depth;
    /** Approximate-record depth, by worker slot: [maxWorkers]. */
    final int[] approxDepth;
    /** PrefixIndex.match scratch: [PrefixIndex.scratchLength()]. */
    final long[] walk;
    /** Candidate approximate workers: [words]. */
    final long[] approxCandidates;
    /** Candidate workers: [words]. */
    final long[] candidates;

    MatchScratch(int maxWorkers) {
        int words = (maxWorkers + 63) >>> 6;
        this.depth = new int[maxWorkers];
        this.approxDepth = new int[maxWorkers];
        this.walk = new long[PrefixIndex.scratchLength()];
        this.approxCandidates = new long[words];
        this.candidates = new long[words];
    }
}
