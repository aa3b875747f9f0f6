package dev.tandem.engine.grammar;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.OutputConstraint;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class TokenGrammarTest {
    /**
     * Single bytes 0..255, a few longer pieces, 1,024 fillers (so that tokens share transition
     * slots), then an end-of-generation id with no bytes.
     */
    private static TokenVocabulary vocabulary() {
        String[] longer = new String[7 + 1024];
        String[] json = {"{\"", "\"a\"", "\":", "true", "false", "}", "  "};
        System.arraycopy(json, 0, longer, 0, json.length);
        for (int i = json.length; i < longer.length; i++) {
            longer[i] = "x" + i;
        }
        byte[][] pieces = new byte[256 + longer.length + 1][];
        for (int b = 0; b < 256; b++) {
            pieces[b] = new byte[] {(byte) b};
        }
        for (int i = 0; i < longer.length; i++) {
            pieces[256 + i] = longer[i].getBytes(StandardCharsets.UTF_8);
        }
        pieces[pieces.length - 1] = new byte[0];
        return new TokenVocabulary(pieces, new int[] {pieces.length - 1});
    }

    @Test
    void next_cachedTransitions_agreeWithTheAutomatonAndReturnTheCachedState() {
        TokenVocabulary vocab = vocabulary();
        TokenGrammar g = new TokenGrammar(OutputConstraint.jsonSchema(
                "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"}},\"required\":[\"a\"]}"), vocab);
        TokenGrammar.Node start = g.node(g.start);
        for (int token = 0; token < vocab.size() - 1; token++) {
            byte[] p = vocab.pieces[token];
            JsonAutomaton.State expected = JsonAutomaton.advance(g.start, p, 0, p.length);
            JsonAutomaton.State first = g.next(start, token);
            JsonAutomaton.State again = g.next(start, token);
            assertThat(first).as("token %d", token).isEqualTo(expected);
            assertThat(again).as("token %d", token).isEqualTo(expected);
        }
        // after the next state's node exists, a transition to it returns the cached object itself
        int open = 256; // {"
        TokenGrammar.Node afterOpen = g.node(g.next(start, open));
        int collider = collidingToken(open, vocab.size() - 1);
        g.next(start, collider); // evicts the edge of {" (same slot)
        assertThat(g.next(start, open)).isSameAs(afterOpen.state);
    }

    @Test
    void accept_twoSequencesSameTokens_sameAnswersAndTheValueCompletes() {
        TokenVocabulary vocab = vocabulary();
        TokenGrammar g = new TokenGrammar(OutputConstraint.jsonSchema(
                "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"boolean\"}},\"required\":[\"a\"]}"), vocab);
        int[] tokens = {256, 'a', 258, 'f', 'a', 'l', 's', 'e', '}'}; // {" a ": false }
        for (int round = 0; round < 2; round++) {
            GrammarState s = new GrammarState(g);
            for (int t : tokens) {
                s.allowed(100);
                assertThat(s.accept(t)).as("round %d token %d", round, t).isTrue();
            }
            assertThat(s.complete()).isTrue();
            assertThat(s.accept('x')).isFalse();
        }
    }

    /** Another token whose transition shares {@code token}'s slot. */
    private static int collidingToken(int token, int below) {
        for (int t = 0; t < below; t++) {
            if (t != token && slotOf(t) == slotOf(token)) {
                return t;
            }
        }
        throw new AssertionError("no token shares a slot with " + token);
    }

    private static int slotOf(int token) {
        return (token * 0x9E3779B9) >>> (Integer.SIZE - Integer.numberOfTrailingZeros(TokenGrammar.EDGE_SLOTS));
    }
}
