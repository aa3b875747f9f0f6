package dev.tandem.engine.grammar;

import java.util.Arrays;

/**
 * The grammar state of one sequence: where its text stands in its constraint's automaton.
 *
 * <p>Confined to the engine thread after the sequence is submitted. Allocates nothing per token
 * while its masks and transitions are cached and it has tokens to spare; near the end of its token budget it
 * filters the mask into its own scratch words.
 */
public final class GrammarState {
    private final TokenGrammar grammar;
    private JsonAutomaton.State state;
    /** The cache's node of {@code state}; null until asked for after a move. */
    private TokenGrammar.Node node;
    private long[] scratch;

    GrammarState(TokenGrammar grammar) {
        this.grammar = grammar;
        this.state = grammar.start;
    }

    private TokenGrammar.Node node() {
        if (node == null) {
            node = grammar.node(state);
        }
        return node;
    }

    /**
     * The tokens that may come next, as a bit mask over the vocabulary (bit id of word id / 64);
     * read-only. End-of-generation ids are in it exactly when the text is complete.
     *
     * <p>With fewer than enough tokens left, only tokens that leave the text finishable within
     * the budget (one byte per token at worst: every vocabulary has single-byte tokens) are
     * kept, so a sequence ends its value before {@code max_tokens} instead of being cut off.
     * When even that is impossible (the budget was too small from the start), the tokens that
     * come closest are kept.
     *
     * @param remainingTokens tokens this sequence may still generate, this one included
     */
    public long[] allowed(int remainingTokens) {
        TokenGrammar.Mask m = node().mask;
        if (m.maxAfter() <= remainingTokens - 1) {
            return m.bits();
        }
        int[] levels = m.levels();
        if (levels != null && levels.length > 0) {
            // the tokens that leave at most budget bytes; if none does, those that leave the fewest
            int i = Arrays.binarySearch(levels, remainingTokens - 1);
            int level = i >= 0 ? i : Math.max(0, -i - 2);
            return m.upTo()[level];
        }
        return filtered(m, remainingTokens - 1);
    }

    private long[] filtered(TokenGrammar.Mask m, int budgetAfter) {
        long[] bits = m.bits();
        if (scratch == null) {
            scratch = new long[bits.length];
        }
        TokenVocabulary vocab = grammar.vocab;
        int best = Integer.MAX_VALUE;
        boolean any = false;
        Arrays.fill(scratch, 0L);
        for (int w = 0; w < bits.length; w++) {
            for (long word = bits[w]; word != 0; word &= word - 1) {
                int id = (w << 6) + Long.numberOfTrailingZeros(word);
                byte[] p = vocab.pieces[id];
                if (p.length == 0) {
                    continue; // end of generation: kept below when accepting
                }
                JsonAutomaton.State next = JsonAutomaton.advance(state, p, 0, p.length);
                int need = next == null ? Integer.MAX_VALUE : JsonAutomaton.minBytesToFinish(next);
                if (need <= budgetAfter) {
                    scratch[w] |= 1L << id;
                    any = true;
                } else if (!any && need < best) {
                    best = need;
                }
            }
        }
        if (!any && !m.accepting()) {
            // nothing finishes in time: keep the tokens that come closest
            for (int w = 0; w < bits.length; w++) {
                for (long word = bits[w]; word != 0; word &= word - 1) {
                    int id = (w << 6) + Long.numberOfTrailingZeros(word);
                    byte[] p = vocab.pieces[id];
                    if (p.length > 0) {
                        JsonAutomaton.State next = JsonAutomaton.advance(state, p, 0, p.length);
                        if (next != null && JsonAutomaton.minBytesToFinish(next) == best) {
                            scratch[w] |= 1L << id;
                        }
                    }
                }
            }
        }
        if (m.accepting()) {
            for (int eos : vocab.eosIds) {
                scratch[eos >>> 6] |= 1L << eos;
            }
        }
        return scratch;
    }

    /**
     * Moves past {@code token}. False, with the state unchanged, when the token's bytes leave the
     * grammar (a token the mask did not allow). End-of-generation tokens change nothing.
     */
    public boolean accept(int token) {
        if (token < 0 || token >= grammar.vocab.pieces.length) {
            return false;
        }
        if (grammar.vocab.pieces[token].length == 0) {
            return true;
        }
        JsonAutomaton.State next = grammar.next(node(), token);
        if (next == null) {
            return false;
        }
        state = next;
        node = null;
        return true;
    }

    /** True when the text is a complete value and nothing more may follow: generation stops. */
    public boolean complete() {
        return JsonAutomaton.complete(state);
    }

    /** True when the text so far is a complete value. */
    public boolean accepting() {
        return JsonAutomaton.accepting(state);
    }
}
