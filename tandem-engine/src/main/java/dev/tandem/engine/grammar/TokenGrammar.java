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
 * <p>Transitions are cached too: each cached state keeps a small direct-mapped table from token
 * id to the state after it ({@value #EDGE_SLOTS} slots, a colliding token overwrites), holding the
 * cached (canonical) state object when there is one. A sequence in steady state therefore moves
 * by one table read and finds its next mask by identity in the cache, allocating nothing; only a
 * miss walks the token's bytes through the automaton. Profiling stories260K at one sequence
 * (JFR, docs/benchmarks.md) found the byte walk and the state comparisons of the mask lookup to
 * be most of the grammar's per-token time.
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
    /** Transition table slots per cached state (a power of two). */
    static final int EDGE_SLOTS = 256;

    private final ConcurrentHashMap<JsonAutomaton.State, Node> nodes = new ConcurrentHashMap<>();

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

    /** One state's mask and transitions; the state object is the cache's canonical one. */
    static final class Node {
        final JsonAutomaton.State state;
        final Mask mask;
        /**
         * Slot {@code slot(token)}: the last transition stored there. Written racily: an
         * {@link Edge} is immutable (final fields), so a reader sees a whole one or an older one.
         */
        private final Edge[] edges = new Edge[EDGE_SLOTS];

        Node(JsonAutomaton.State state, Mask mask) {
            this.state = state;
            this.mask = mask;
        }
    }

    /** {@code token} moves the automaton to {@code next}. */
    private record Edge(int token, JsonAutomaton.State next) {
    }

    Mask mask(JsonAutomaton.State state) {
        return node(state).mask;
    }

    /** The cached node of {@code state}, computing its mask on the first visit. */
    Node node(JsonAutomaton.State state) {
        Node n = nodes.get(state);
        if (n == null) {
            n = new Node(state, compute(state));
            if (nodes.size() < MAX_CACHED_STATES) {
                Node raced = nodes.putIfAbsent(state, n);
                n = raced != null ? raced : n;
            }
        }
        return n;
    }

    /** The state after {@code token} from {@code from}'s state, or null if the token leaves the grammar. */
    JsonAutomaton.State next(Node from, int token) {
        int slot = slot(token);
        Edge e = from.edges[slot];
        if (e != null && e.token == token) {
            return e.next;
        }
        byte[] p = vocab.pieces[token];
        JsonAutomaton.State next = JsonAutomaton.advance(from.state, p, 0, p.length);
        if (next != null) {
            Node known = nodes.get(next);
            if (known != null) {
                next = known.state; // canonical: later lookups match by identity
            }
            from.edges[slot] = new Edge(token, next);
        }
        return next;
    }

    private static int slot(int token) {
        return (token * 0x9E3779B9) >>> (Integer.SIZE - Integer.numberOfTrailingZeros(EDGE_SLOTS));
    }

    int cachedStates() {
        return nodes.size();
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
