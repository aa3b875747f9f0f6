package dev.tandem.frontend.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class StopMatcherTest {

    @Test
    void push_stopSpansThreePieces_stopTextNotEmitted() {
        StopMatcher m = new StopMatcher(List.of("THE END"));

        assertThat(m.push("and so TH")).isEqualTo("and so ");
        assertThat(m.push("E E")).isEmpty();
        assertThat(m.push("ND. More")).isEmpty();
        assertThat(m.stopped()).isTrue();
        assertThat(m.matchedStop()).isEqualTo("THE END");
        assertThat(m.push("ignored")).isEmpty();
    }

    @Test
    void push_falseStart_releasedAsSoonAsItCannotMatch() {
        StopMatcher m = new StopMatcher(List.of("\n\n"));

        assertThat(m.push("line\n")).isEqualTo("line");
        assertThat(m.heldBackChars()).isEqualTo(1);
        assertThat(m.push("next")).isEqualTo("\nnext");
        assertThat(m.stopped()).isFalse();
    }

    @Test
    void push_onlyPossiblePrefixHeldBack() {
        StopMatcher m = new StopMatcher(List.of("abc", "xyz"));

        assertThat(m.push("hello xy")).isEqualTo("hello ");
        assertThat(m.heldBackChars()).isEqualTo(2);
    }

    @Test
    void push_twoStopsInOnePiece_firstCompletedWins() {
        StopMatcher m = new StopMatcher(List.of("world", "lo"));

        assertThat(m.push("hello world")).isEqualTo("hel");
        assertThat(m.matchedStop()).isEqualTo("lo");
    }

    @Test
    void push_shortStopCompletesInsideLongerCandidate_shortWins() {
        StopMatcher m = new StopMatcher(List.of("xaby", "ab"));

        assertThat(m.push("1xab")).isEqualTo("1x");
        assertThat(m.matchedStop()).isEqualTo("ab");
    }

    @Test
    void finish_heldPrefixNeverCompleted_released() {
        StopMatcher m = new StopMatcher(List.of("STOP"));

        assertThat(m.push("ST")).isEmpty();
        assertThat(m.finish()).isEqualTo("ST");
    }

    @Test
    void push_noStops_passesThrough() {
        StopMatcher m = new StopMatcher(List.of());

        assertThat(m.push("anything")).isEqualTo("anything");
        assertThat(m.heldBackChars()).isZero();
    }

    @Test
    void constructor_emptyStop_rejected() {
        assertThatThrownBy(() -> new StopMatcher(List.of(""))).isInstanceOf(IllegalArgumentException.class);
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 17, 2024})
    void push_randomTextAndSplits_matchesReference(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        String alphabet = "ab\n.";
        for (int round = 0; round < 500; round++) {
            String text = randomString(random, alphabet, random.nextInt(0, 30));
            List<String> stops = List.of(randomString(random, alphabet, random.nextInt(1, 4)),
                    randomString(random, alphabet, random.nextInt(1, 5)));
            StopMatcher m = new StopMatcher(stops);
            StringBuilder out = new StringBuilder();
            int at = 0;
            while (at < text.length()) {
                int len = Math.min(text.length() - at, random.nextInt(1, 5));
                out.append(m.push(text.substring(at, at + len)));
                at += len;
                int longestStop = Math.max(stops.get(0).length(), stops.get(1).length());
                assertThat(m.heldBackChars()).as("seed %d", seed).isLessThan(longestStop);
                // nothing is held back that could not begin a stop string
                assertThat(out.length() + m.heldBackChars() == at || m.stopped()).as("seed %d", seed).isTrue();
            }
            if (!m.stopped()) {
                out.append(m.finish());
            }
            assertThat(out.toString()).as("seed %d text %s stops %s", seed, text, stops)
                    .isEqualTo(reference(text, stops));
            assertThat(m.stopped()).isEqualTo(stops.stream().anyMatch(text::contains));
        }
    }

    /** Text up to the start of the stop occurrence that ends first (ties: the one starting first). */
    private static String reference(String text, List<String> stops) {
        int bestEnd = Integer.MAX_VALUE;
        int bestStart = text.length();
        for (String s : stops) {
            int at = text.indexOf(s);
            if (at >= 0 && (at + s.length() < bestEnd || (at + s.length() == bestEnd && at < bestStart))) {
                bestEnd = at + s.length();
                bestStart = at;
            }
        }
        return text.substring(0, bestStart);
    }

    private static String randomString(SplittableRandom random, String alphabet, int length) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < length; i++) {
            sb.append(alphabet.charAt(random.nextInt(alphabet.length())));
        }
        return sb.toString();
    }
}
