package dev.tandem.engine.grammar;

import dev.tandem.core.OutputConstraint;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One constraint compiled for one vocabulary: its start state and, per automaton state, the mask
 * of tokens whose bytes keep the text inside the grammar.
 *
 * <h2>Design</h2>
 * A mask is computed once per state and cached: the sorted pieces of {@link TokenVocabulary} are
 * walked with one state per depth, reusing the walk of the previous token up to their common
 * prefix and skipping every token below a byte the automaton refuses. With the mask the cache
 * keeps the largest {@link JsonAutomaton#minBytesToFinish} over the allowed tokens' next states,
 * so a sequence with enough tokens left uses the cached mask as is, and only one near its token
 * budget filters it (see {@link GrammarState#allowed}).
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use: the cache is a concurrent map of immutable entries (two threads may
 * both compute the same entry; either is kept). It is bounded: past {@value #MAX_CACHED_STATES}
 * states, masks are computed without being kept.
 */
final class TokenGrammar {
    static final int MAX_CACHED_STATES = 4096;

    final TokenVocabulary vocab;
    final JsonAutomaton.State start;
    private final ConcurrentHashMap<JsonAutomaton.State, Mask> masks = new ConcurrentHashMap<>();

    TokenGrammar(OutputConstraint constraint, TokenVocabulary vocab) {
        this.vocab = vocab;
        SchemaNode root = SchemaCompiler.compile(constraint.jsonSchema(), "response_format");
        this.start = JsonAutomaton.start(root, constraint.prefix().getBytes(StandardCharsets.UTF_8),
                constraint.suffix().getBytes(StandardCharsets.UTF_8));
    }

    /** Distinct "bytes left to finish" levels kept per state; beyond, a sequence filters itself. */
    static final int MAX_LEVELS = 32;

    /**
     * The tokens allowed in {@code state}.
     *
     * @param bits      bit {@code id} set when token id may follow (end-of-generation ids exactly
     *                  when {@code accepting}); shared, never to be written
     * @param maxAfter  the most bytes any allowed token leaves to finish
     * @param levels    ascending distinct bytes-left-to-finish values of the allowed tokens, or
     *                  null when there are more than {@value #MAX_LEVELS}
     * @param upTo      {@code upTo[i]}: the allowed tokens that leave at most {@code levels[i]}
     *                  bytes (with the end-of-generation ids when accepting)
     */
    record Mask(long[] bits, boolean accepting, int maxAfter, int[] levels, long[][] upTo) {
    }

    Mask mask(JsonAutomaton.State state) {
        Mask m = masks.get(state);
        if (m == null) {
            m = compute(state);
            if (masks.size() < MAX_CACHED_STATES) {
                masks.putIfAbsent(state, m);
            }
        }
        return m;
    }

    int cachedStates() {
        return masks.size();
    }

    private Mask compute(JsonAutomaton.State state) {
        long[] bits = new long[vocab.maskWords()];
        JsonAutomaton.State[] depth = new JsonAutomaton.State[vocab.maxPieceBytes + 1];
        depth[0] = state;
        int valid = 0; // depth[0..valid] follow the previous token's bytes
        int maxAfter = 0;
        int[] after = new int[vocab.size()];
        for (int k = 0; k < vocab.sortedIds.length; k++) {
            int id = vocab.sortedIds[k];
            byte[] p = vocab.pieces[id];
            int d = vocab.lcp[k];
            if (d > valid) {
                continue; // it shares a prefix the automaton refused
            }
            while (d < p.length) {
                JsonAutomaton.State next = JsonAutomaton.advance(depth[d], p[d] & 0xFF);
                if (next == null) {
                    break;
                }
                depth[++d] = next;
            }
            valid = d;
            if (d == p.length) {
                bits[id >>> 6] |= 1L << id;
                after[id] = JsonAutomaton.minBytesToFinish(depth[d]);
                maxAfter = Math.max(maxAfter, after[id]);
            }
        }
        boolean accepting = JsonAutomaton.accepting(state);
        if (accepting) {
            for (int eos : vocab.eosIds) {
                bits[eos >>> 6] |= 1L << eos;
            }
        }
        return levels(bits, accepting, maxAfter, after);
    }

    private Mask levels(long[] bits, boolean accepting, int maxAfter, int[] after) {
        TreeSet<Integer> distinct = new java.util.TreeSet<>();
        for (int w = 0; w < bits.length; w++) {
            for (long word = bits[w]; word != 0; word &= word - 1) {
                int id = (w << 6) + Long.numberOfTrailingZeros(word);
                if (vocab.pieces[id].length > 0) {
                    distinct.add(after[id]);
                }
            }
        }
        if (distinct.size() > MAX_LEVELS) {
            return new Mask(bits, accepting, maxAfter, null, null);
        }
        int[] levels = distinct.stream().mapToInt(Integer::intValue).toArray();
        long[][] upTo = new long[levels.length][bits.length];
        for (int w = 0; w < bits.length; w++) {
            for (long word = bits[w]; word != 0; word &= word - 1) {
                int id = (w << 6) + Long.numberOfTrailingZeros(word);
                if (vocab.pieces[id].length == 0) {
                    continue;
                }
                for (int i = Arrays.binarySearch(levels, after[id]); i < levels.length; i++) {
                    upTo[i][w] |= 1L << id;
                }
            }
        }
        if (accepting) {
            for (long[] m : upTo) {
                for (int eos : vocab.eosIds) {
                    m[eos >>> 6] |= 1L << eos;
                }
            }
        }
        return new Mask(bits, accepting, maxAfter, levels, upTo);
    }
}
