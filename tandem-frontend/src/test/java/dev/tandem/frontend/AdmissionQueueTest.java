package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(30)
class AdmissionQueueTest {
    private static final long LONG = TimeUnit.SECONDS.toNanos(30);

    @Test
    void enter_withinCapacity_admittedAtOnce() throws Exception {
        AdmissionQueue q = new AdmissionQueue(4, 0);

        var a = q.enter(3, LONG);
        var b = q.enter(1, LONG);
        var c = q.enter(1, LONG);

        assertThat(a).isInstanceOf(AdmissionQueue.Admitted.class);
        assertThat(b).isInstanceOf(AdmissionQueue.Admitted.class);
        assertThat(c).isInstanceOf(AdmissionQueue.QueueFull.class);
        assertThat(q.running()).isEqualTo(4);
        ((AdmissionQueue.Admitted) a).permit().close();
        ((AdmissionQueue.Admitted) a).permit().close();
        assertThat(q.running()).isEqualTo(1);
        q.checkInvariants();
    }

    @Test
    void enter_weightAboveCapacity_clampedSoItCanRun() throws Exception {
        AdmissionQueue q = new AdmissionQueue(2, 1);

        assertThat(q.enter(50, LONG)).isInstanceOf(AdmissionQueue.Admitted.class);
        assertThat(q.running()).isEqualTo(2);
    }

    @Test
    void release_wakesWaitersInFifoOrder_smallLaterRequestDoesNotOvertake() throws Exception {
        AdmissionQueue q = new AdmissionQueue(2, 10);
        var first = (AdmissionQueue.Admitted) q.enter(2, LONG);
        List<String> order = java.util.Collections.synchronizedList(new ArrayList<>());
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            CompletableFuture<AdmissionQueue.Outcome> big = CompletableFuture.supplyAsync(() -> enter(q, 2, order, "big"), pool);
            await().atMost(Duration.ofSeconds(5)).until(() -> q.queued() == 1);
            CompletableFuture<AdmissionQueue.Outcome> small = CompletableFuture.supplyAsync(() -> enter(q, 1, order, "small"), pool);
            await().atMost(Duration.ofSeconds(5)).until(() -> q.queued() == 2);
            q.checkInvariants();

            first.permit().close();
            var bigOutcome = (AdmissionQueue.Admitted) big.get();
            assertThat(q.queued()).isEqualTo(1);
            bigOutcome.permit().close();
            assertThat(small.get()).isInstanceOf(AdmissionQueue.Admitted.class);
        }
        assertThat(order).containsExactly("big", "small");
    }

    @Test
    void enter_timeout_timedOutAndLeavesQueue() throws Exception {
        AdmissionQueue q = new AdmissionQueue(1, 1);
        q.enter(1, LONG);

        assertThat(q.enter(1, TimeUnit.MILLISECONDS.toNanos(20))).isInstanceOf(AdmissionQueue.TimedOut.class);
        assertThat(q.queued()).isZero();
        q.checkInvariants();
    }

    @Test
    void close_wakesWaitersWithClosedAndRefusesNew() throws Exception {
        AdmissionQueue q = new AdmissionQueue(1, 5);
        q.enter(1, LONG);
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            var waiting = pool.submit(() -> q.enter(1, LONG));
            await().atMost(Duration.ofSeconds(5)).until(() -> q.queued() == 1);

            q.close();

            assertThat(waiting.get()).isInstanceOf(AdmissionQueue.Closed.class);
        }
        assertThat(q.enter(1, LONG)).isInstanceOf(AdmissionQueue.Closed.class);
        assertThat(q.queued()).isZero();
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4})
    void randomOperations_invariantsHoldAndEverySlotReturns(long seed) throws Exception {
        SplittableRandom random = new SplittableRandom(seed);
        AdmissionQueue q = new AdmissionQueue(1 + random.nextInt(6), random.nextInt(4));
        List<AdmissionQueue.Permit> held = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            if (!held.isEmpty() && random.nextBoolean()) {
                held.remove(random.nextInt(held.size())).close();
            } else {
                // a zero timeout never waits: either admitted now, queue full, or timed out at once
                var outcome = q.enter(1 + random.nextInt(4), 0);
                if (outcome instanceof AdmissionQueue.Admitted a) {
                    held.add(a.permit());
                }
            }
            q.checkInvariants();
            assertThat(q.queued()).as("seed %d", seed).isZero();
        }
        held.forEach(AdmissionQueue.Permit::close);
        assertThat(q.running()).as("seed %d", seed).isZero();
    }

    private static AdmissionQueue.Outcome enter(AdmissionQueue q, int weight, List<String> order, String name) {
        try {
            AdmissionQueue.Outcome o = q.enter(weight, LONG);
            order.add(name);
            return o;
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }
}
