package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ConfigException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class LoadRunnerTest {
    private static final RequestOptions OPTIONS = new RequestOptions("m", 0, 0, false);

    /** Answers every request with "reply-<session>-<turn>" after {@code delayMs}; records what it saw. */
    private static final class FakeExecutor implements RequestExecutor {
        final List<PreparedRequest> sent = Collections.synchronizedList(new ArrayList<>());
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger maxInFlight = new AtomicInteger();
        final long delayMs;
        final Predicate<PreparedRequest> fails;

        FakeExecutor(long delayMs, Predicate<PreparedRequest> fails) {
            this.delayMs = delayMs;
            this.fails = fails;
        }

        @Override
        public RequestResult execute(PreparedRequest request) {
            long start = System.nanoTime();
            sent.add(request);
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            try {
                Thread.sleep(delayMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                inFlight.decrementAndGet();
            }
            long end = System.nanoTime();
            RequestResult.Builder b = RequestResult.builder(request.sessionId(), request.turn(), start).endNs(end)
                    .scheduledNs(request.scheduledNs()).chunkNs(end).usage(10, 1, 0)
                    .reply("reply-" + request.sessionId() + "-" + request.turn());
            if (fails.test(request)) {
                b.error("http_500", "boom");
            }
            return b.build();
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void run_conversationsBelowConcurrency_interleaveAndCarryRealReplies(int clients) {
        ConversationWorkload w = new ConversationWorkload(3, 3, 4, 0, 8, 11);
        FakeExecutor fake = new FakeExecutor(5, r -> false);
        LoadRunner.Outcome outcome = new LoadRunner(fake, OPTIONS, new ArrivalMode.Concurrency(clients), 0, null).run(w);

        assertThat(outcome.results()).hasSize(9).allMatch(RequestResult::ok);
        assertThat(fake.maxInFlight.get()).isLessThanOrEqualTo(clients);
        List<PreparedRequest> sent = List.copyOf(fake.sent);
        // every turn's history is the earlier user messages and the replies the server gave
        for (PreparedRequest r : sent) {
            List<ChatMessage> m = r.messages();
            assertThat(m).hasSize(2 * r.turn() + 1);
            Session s = w.sessions().get(r.sessionId());
            for (int t = 0; t < r.turn(); t++) {
                assertThat(m.get(2 * t)).isEqualTo(ChatMessage.user(((Step.UserTurn) s.steps().get(t)).text()));
                assertThat(m.get(2 * t + 1)).isEqualTo(ChatMessage.assistant("reply-" + r.sessionId() + "-" + t));
            }
        }
        // interleaving: the first turn of every conversation is dispatched before any second turn; the
        // fake records a request on its client's thread, so requests of different clients dispatched
        // one after the other may be recorded the other way round (at most clients - 1 places apart)
        int firstSecondTurn = indexOf(sent, r -> r.turn() == 1);
        int lastFirstTurn = lastIndexOf(sent, r -> r.turn() == 0);
        assertThat(lastFirstTurn).isLessThan(firstSecondTurn + clients);
        if (clients == 1) {
            assertThat(sent.stream().map(r -> r.sessionId() + ":" + r.turn()).toList())
                    .containsExactly("0:0", "1:0", "2:0", "0:1", "1:1", "2:1", "0:2", "1:2", "2:2");
        }
    }

    @Test
    void run_failedTurn_endsItsConversationAndCountsSkippedTurns() {
        ConversationWorkload w = new ConversationWorkload(2, 4, 4, 0, 8, 0);
        FakeExecutor fake = new FakeExecutor(1, r -> r.sessionId() == 1 && r.turn() == 1);
        LoadRunner.Outcome outcome = new LoadRunner(fake, OPTIONS, new ArrivalMode.Concurrency(2), 0, null).run(w);
        assertThat(outcome.results()).hasSize(4 + 2);
        assertThat(outcome.skippedTurns()).isEqualTo(2);
        assertThat(fake.sent).noneMatch(r -> r.sessionId() == 1 && r.turn() > 1);
    }

    @Test
    void run_executorThrows_becomesFailedResultAndRunEnds() {
        RequestExecutor broken = r -> {
            throw new IllegalStateException("bug");
        };
        LoadRunner.Outcome outcome = new LoadRunner(broken, OPTIONS, new ArrivalMode.Concurrency(2), 0, null)
                .run(new ConversationWorkload(2, 3, 4, 0, 8, 0));
        assertThat(outcome.results()).hasSize(2).allMatch(r -> "client_error".equals(r.errorType()));
        assertThat(outcome.skippedTurns()).isEqualTo(4);
    }

    @Test
    void run_rate_sendsOnScheduleWithoutWaitingForReplies() {
        RandomWorkload w = new RandomWorkload(10, new LengthDistribution.Fixed(4), new LengthDistribution.Fixed(2),
                PromptForm.TOKENS, 3, 259, 0);
        FakeExecutor fake = new FakeExecutor(300, r -> false);
        LoadRunner.Outcome outcome = new LoadRunner(fake, OPTIONS, new ArrivalMode.Rate(50, false), 0, null).run(w);
        assertThat(outcome.results()).hasSize(10);
        List<RequestResult> byStart = outcome.results();
        // scheduled 20 ms apart from the start, whatever the 300 ms replies do
        for (int i = 0; i < byStart.size(); i++) {
            assertThat(byStart.get(i).scheduledNs() - outcome.startNs()).isEqualTo(i * 20_000_000L);
        }
        assertThat(fake.maxInFlight.get()).as("open loop overlaps requests").isGreaterThan(2);
    }

    @Test
    void run_traceTime_honoursScaledTimestamps() {
        List<TraceRecord> rows = List.of(new TraceRecord(0, 10, 1, List.of(1L)),
                new TraceRecord(1000, 10, 1, List.of(2L)), new TraceRecord(2000, 10, 1, List.of(3L)));
        TraceWorkload w = new TraceWorkload(rows, 512, 16, PromptForm.TOKENS, 3, 259, 0, 0, 0);
        FakeExecutor fake = new FakeExecutor(1, r -> false);
        LoadRunner.Outcome outcome = new LoadRunner(fake, OPTIONS, new ArrivalMode.TraceTime(10), 0, null).run(w);
        List<Long> offsets = outcome.results().stream().map(r -> r.scheduledNs() - outcome.startNs()).toList();
        assertThat(offsets).containsExactly(0L, 100_000_000L, 200_000_000L);
        assertThat(outcome.results()).allSatisfy(r -> assertThat(r.startNs()).isGreaterThanOrEqualTo(r.scheduledNs()));
        assertThat(outcome.durationNs()).isGreaterThanOrEqualTo(200_000_000L);
    }

    @Test
    void run_traceTimeOnUntimedWorkload_clearError() {
        LoadRunner runner = new LoadRunner(new FakeExecutor(0, r -> false), OPTIONS, new ArrivalMode.TraceTime(1), 0,
                null);
        assertThatThrownBy(() -> runner.run(new ConversationWorkload(1, 1, 4, 0, 8, 0)))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--speedup");
    }

    @Test
    void run_listener_toldAboutEveryRequest() {
        List<RequestResult> seen = Collections.synchronizedList(new ArrayList<>());
        new LoadRunner(new FakeExecutor(0, r -> false), OPTIONS, new ArrivalMode.Concurrency(3), 0,
                (req, res) -> seen.add(res)).run(new SharedPrefixWorkload(2, 3, 5, 2, 4, 0));
        assertThat(seen).hasSize(6);
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2})
    void arrivalGaps_poisson_exponentialWithTheRateAndSeeded(long seed) {
        ArrivalGaps a = new ArrivalGaps(new ArrivalMode.Rate(4, true), seed);
        ArrivalGaps b = new ArrivalGaps(new ArrivalMode.Rate(4, true), seed);
        double sum = 0;
        double sumSq = 0;
        int n = 20_000;
        for (int i = 0; i < n; i++) {
            long g = a.nextNs();
            assertThat(b.nextNs()).isEqualTo(g);
            assertThat(g).isGreaterThanOrEqualTo(0);
            sum += g / 1e9;
            sumSq += (g / 1e9) * (g / 1e9);
        }
        double mean = sum / n;
        double sd = Math.sqrt(sumSq / n - mean * mean);
        assertThat(mean).isBetween(0.24, 0.26);   // 1 / rate
        assertThat(sd).isBetween(0.235, 0.265);   // exponential: sd = mean
        assertThat(new ArrivalGaps(new ArrivalMode.Rate(4, false), seed).nextNs()).isEqualTo(250_000_000L);
    }

    @Test
    void readyQueue_putBackGoesToTheTail() throws InterruptedException {
        ReadyQueue q = new ReadyQueue(() -> 100);
        SessionState a = new SessionState(new Session(0, null, List.of(new Step.UserTurn("a", 1)), 0));
        SessionState b = new SessionState(new Session(1, null, List.of(new Step.UserTurn("b", 1)), 0));
        q.addNew(a, 0);
        q.addNew(b, 0);
        assertThat(q.take().session()).isSameAs(a);
        q.putBack(a, 50);  // ready earlier than now but added later: ordered by ready time first
        assertThat(q.snapshot()).extracting(ReadyQueue.Entry::session).containsExactly(b, a);
        q.take();
        q.take();
        q.finish();
        assertThat(q.liveSessions()).isEqualTo(1);
        q.finish();
        assertThat(q.take()).isNull();
    }

    private static int indexOf(List<PreparedRequest> list, Predicate<PreparedRequest> p) {
        for (int i = 0; i < list.size(); i++) {
            if (p.test(list.get(i))) {
                return i;
            }
        }
        return -1;
    }

    private static int lastIndexOf(List<PreparedRequest> list, Predicate<PreparedRequest> p) {
        for (int i = list.size() - 1; i >= 0; i--) {
            if (p.test(list.get(i))) {
                return i;
            }
        }
        return -1;
    }
}
