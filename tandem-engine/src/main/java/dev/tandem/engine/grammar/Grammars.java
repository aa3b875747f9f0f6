package dev.tandem.engine.grammar;

import dev.tandem.core.OutputConstraint;
import dev.tandem.core.RequestException;
import dev.tandem.engine.tokenizer.Tokenizer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An engine's constrained decoding: its vocabulary's token bytes and the grammars compiled for
 * it, most recently used first, so that requests with the same constraint share one mask cache.
 *
 * <p>Safe for concurrent use ({@link #start} compiles on the submitting thread, so a bad schema
 * fails the submit; the compiled-grammar map is guarded by this object's lock).
 */
public final class Grammars {
    /** Compiled grammars kept per engine. */
    static final int MAX_GRAMMARS = 64;

    private final TokenVocabulary vocab;
    // guarded by this
    private final Map<OutputConstraint, TokenGrammar> compiled = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<OutputConstraint, TokenGrammar> eldest) {
            return size() > MAX_GRAMMARS;
        }
    };

    public Grammars(TokenVocabulary vocab) {
        this.vocab = vocab;
    }

    /** Grammars over {@code tokenizer}'s vocabulary; {@code eosIds} end generation. */
    public static Grammars forTokenizer(Tokenizer tokenizer, int[] eosIds) {
        byte[][] pieces = new byte[tokenizer.vocabSize()][];
        for (int id = 0; id < pieces.length; id++) {
            pieces[id] = tokenizer.piece(id, false);
        }
        return new Grammars(new TokenVocabulary(pieces, eosIds));
    }

    public TokenVocabulary vocabulary() {
        return vocab;
    }

    /**
     * The start state of {@code constraint}, with its replayed tokens (the last
     * {@code replayedTokens} of {@code promptTokens}) already walked through.
     *
     * @throws RequestException INVALID: the schema is outside the supported subset, or the
     *                          replayed tokens do not fit it
     */
    public GrammarState start(OutputConstraint constraint, int[] promptTokens) {
        TokenGrammar g;
        OutputConstraint key = constraint.grammarKey();
        synchronized (this) {
            g = compiled.get(key);
        }
        if (g == null) {
            g = new TokenGrammar(key, vocab);
            synchronized (this) {
                compiled.putIfAbsent(key, g);
            }
        }
        GrammarState s = new GrammarState(g);
        for (int i = promptTokens.length - constraint.replayedTokens(); i < promptTokens.length; i++) {
            if (!s.accept(promptTokens[i])) {
                throw new RequestException(RequestException.Kind.INVALID, "replayed token " + promptTokens[i]
                        + " does not fit the output constraint", "response_format", null);
            }
        }
        return s;
    }
}
