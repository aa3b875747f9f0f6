package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ConfigException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class WorkloadTest {

    static Stream<Arguments> workloads() {
        List<TraceRecord> rows = List.of(new TraceRecord(0, 1000, 5, List.of(1L, 2L)),
                new TraceRecord(40, 600, 3, List.of(1L, 3L)));
        return Stream.of(
                Arguments.of(new ConversationWorkload(4, 3, 12, 6, 16, 0)),
                Arguments.of(new SharedPrefixWorkload(3, 4, 50, 8, 16, 0)),
                Arguments.of(new TraceWorkload(rows, 512, 512, PromptForm.TOKENS, 3, 259, 0, 0, 0)),
                Arguments.of(new TraceWorkload(rows, 512, 32, PromptForm.TEXT, 3, 259, 0, 0, 0)),
                Arguments.of(new RandomWorkload(20, new LengthDistribution.Uniform(5, 50), new LengthDistribution.Fixed(8),
                        PromptForm.TOKENS, 3, 259, 0)),
                Arguments.of(new RandomWorkload(20, new LengthDistribution.Normal(30, 10), new LengthDistribution.Fixed(8),
                        PromptForm.TEXT, 3, 259, 0)));
    }

    /** Everything a session would send, with token recipes expanded to their ids. */
    private static List<String> materialize(Workload w) {
        List<String> out = new ArrayList<>();
        for (Session s : w.sessions()) {
            StringBuilder sb = new StringBuilder(s.id() + "|" + s.systemPrompt() + "|" + s.arrivalOffsetNs());
            for (Step step : s.steps()) {
                sb.append('|').append(step.maxTokens()).append(':');
                switch (step) {
                    case Step.UserTurn u -> sb.append(u.text());
                    case Step.TextCompletion t -> sb.append(t.text());
                    case Step.TokenCompletion t -> sb.append(java.util.Arrays.toString(t.recipe().tokens()));
                }
            }
            out.add(sb.toString());
        }
        return out;
    }

    @ParameterizedTest
    @MethodSource("workloads")
    void sessions_sameSeed_samePrompts(Workload w) {
        assertThat(materialize(w)).isEqualTo(materialize(w)).isEqualTo(materialize(w.withSeed(0)));
    }

    @ParameterizedTest
    @MethodSource("workloads")
    void sessions_otherSeed_otherPrompts(Workload w) {
        assertThat(materialize(w.withSeed(99))).isNotEqualTo(materialize(w));
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void conversations_seeded_nByTUserTurnsWithDistinctMessages(long seed) {
        ConversationWorkload w = new ConversationWorkload(10, 5, 16, 0, 32, seed);
        List<Session> sessions = w.sessions();
        assertThat(sessions).hasSize(10);
        Set<String> messages = new HashSet<>();
        for (Session s : sessions) {
            assertThat(s.systemPrompt()).isNull();
            assertThat(s.steps()).hasSize(5).allSatisfy(step -> {
                assertThat(step).isInstanceOf(Step.UserTurn.class);
                assertThat(((Step.UserTurn) step).text().split(" ")).hasSize(16);
                assertThat(step.maxTokens()).isEqualTo(32);
            });
            s.steps().forEach(step -> messages.add(((Step.UserTurn) step).text()));
        }
        assertThat(messages).as("every user message differs").hasSize(50);
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void sharedPrefix_seeded_groupsShareTheirSystemPromptOnly(long seed) {
        SharedPrefixWorkload w = new SharedPrefixWorkload(3, 5, 40, 6, 8, seed);
        List<Session> sessions = w.sessions();
        assertThat(sessions).hasSize(15);
        assertThat(sessions.stream().map(Session::systemPrompt).distinct()).hasSize(3);
        assertThat(sessions.stream().collect(java.util.stream.Collectors.groupingBy(Session::systemPrompt,
                java.util.stream.Collectors.counting())).values()).containsOnly(5L);
        assertThat(sessions.getFirst().systemPrompt().split(" ")).hasSize(40);
        assertThat(sessions.stream().map(s -> ((Step.UserTurn) s.steps().getFirst()).text()).distinct()).hasSize(15);
        assertThat(sessions.stream().map(Session::id).toList()).isEqualTo(java.util.stream.IntStream.range(0, 15)
                .boxed().toList());
    }

    @ParameterizedTest
    @ValueSource(longs = {4, 5, 6})
    void random_seeded_lengthsFollowTheDistributions(long seed) {
        RandomWorkload w = new RandomWorkload(200, new LengthDistribution.Uniform(10, 20),
                new LengthDistribution.Uniform(1, 3), PromptForm.TOKENS, 100, 110, seed);
        for (Session s : w.sessions()) {
            Step.TokenCompletion t = (Step.TokenCompletion) s.steps().getFirst();
            int[] tokens = t.recipe().tokens();
            assertThat(tokens.length).isBetween(10, 20);
            assertThat(java.util.Arrays.stream(tokens).boxed().toList()).allSatisfy(id -> assertThat(id).isBetween(100, 109));
            assertThat(t.maxTokens()).isBetween(1, 3);
        }
        assertThat(w.sessions().stream().mapToInt(s -> s.steps().getFirst().maxTokens()).distinct().count())
                .isEqualTo(3);
    }

    @ParameterizedTest
    @ValueSource(longs = {7, 8})
    void lengthDistribution_normal_clampedToOneAndNearItsMean(long seed) {
        LengthDistribution d = new LengthDistribution.Normal(100, 20);
        SplittableRandom r = new SplittableRandom(seed);
        double sum = 0;
        for (int i = 0; i < 4000; i++) {
            sum += d.sample(r);
        }
        assertThat(sum / 4000).isBetween(98.0, 102.0);
        LengthDistribution wide = new LengthDistribution.Normal(1, 50);
        for (int i = 0; i < 100; i++) {
            assertThat(wide.sample(r)).isGreaterThanOrEqualTo(1);
        }
    }

    @org.junit.jupiter.api.Test
    void lengthDistribution_parse_acceptsThreeFormsAndNamesTheOptionOnError() {
        assertThat(LengthDistribution.parse("--x", "64")).isEqualTo(new LengthDistribution.Fixed(64));
        assertThat(LengthDistribution.parse("--x", "8..16")).isEqualTo(new LengthDistribution.Uniform(8, 16));
        assertThat(LengthDistribution.parse("--x", "normal:100:5")).isEqualTo(new LengthDistribution.Normal(100, 5));
        assertThatThrownBy(() -> LengthDistribution.parse("--input-len", "lots"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--input-len").hasMessageContaining("lots");
        assertThatThrownBy(() -> LengthDistribution.parse("--input-len", "9..3"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--input-len");
        assertThatThrownBy(() -> LengthDistribution.parse("--input-len", "normal:5"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("normal:MEAN:STDDEV");
    }

    @org.junit.jupiter.api.Test
    void constructors_badSettings_clearErrors() {
        assertThatThrownBy(() -> new ConversationWorkload(0, 5, 16, 0, 32, 0))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--conversations");
        assertThatThrownBy(() -> new SharedPrefixWorkload(2, 2, 0, 4, 8, 0))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--prefix-words");
        assertThatThrownBy(() -> new RandomWorkload(0, new LengthDistribution.Fixed(1), new LengthDistribution.Fixed(1),
                PromptForm.TOKENS, 3, 259, 0)).isInstanceOf(ConfigException.class).hasMessageContaining("--requests");
        assertThatThrownBy(() -> PromptForm.parse("json")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("json");
    }
}
