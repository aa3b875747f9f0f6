package dev.tandem.engine.grammar;

import java.util.Arrays;

/**
 * The bytes each token adds to the text, sorted so that a walk over them visits tokens in trie
 * order: tokens sharing a prefix are adjacent, and {@code lcp[k]} (the common prefix with the
 * previous token in that order) says how much of the previous walk can be reused. This is a trie
 * without nodes: a mask computation keeps one automaton state per depth.
 *
 * <p>Immutable; safe for concurrent use. Built once per tokenizer.
 */
public final class TokenVocabulary {
    final byte[][] pieces;    // [vocab] the token's bytes; empty for control tokens (never allowed)
    final int[] sortedIds;    // ids with a non-empty piece, in unsigned lexicographic order of pieces
    final int[] lcp;          // [sortedIds.length] common prefix length with the previous sorted id
    final int[] eosIds;
    final int maxPieceBytes;

    /**
     * @param pieces per token id, the bytes it adds to decoded text (no leading-space removal);
     *               empty for tokens that add none (control tokens)
     * @param eosIds the ids that end generation: allowed exactly when the text is complete
     */
    public TokenVocabulary(byte[][] pieces, int[] eosIds) {
        this.pieces = pieces.clone();
        this.eosIds = eosIds.clone();
        Integer[] ids = new Integer[pieces.length];
        int n = 0;
        int longest = 0;
        for (int id = 0; id < pieces.length; id++) {
            if (pieces[id].length > 0) {
                ids[n++] = id;
                longest = Math.max(longest, pieces[id].length);
            }
        }
        Arrays.sort(ids, 0, n, (a, b) -> Arrays.compareUnsigned(pieces[a], pieces[b]));
        this.sortedIds = new int[n];
        this.lcp = new int[n];
        for (int k = 0; k < n; k++) {
            sortedIds[k] = ids[k];
            if (k > 0) {
                byte[] a = pieces[ids[k - 1]];
                byte[] b = pieces[ids[k]];
                int m = Arrays.mismatch(a, b);
                lcp[k] = m < 0 ? a.length : m;
            }
        }
        this.maxPieceBytes = longest;
    }

    public int size() {
        return pieces.length;
    }

    /** Words of a bit mask over the vocabulary. */
    int maskWords() {
        return (pieces.length + 63) >>> 6;
    }
}
