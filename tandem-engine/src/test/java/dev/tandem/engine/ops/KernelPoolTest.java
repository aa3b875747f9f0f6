package dev.tandem.engine.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class KernelPoolTest {
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void run_manyJobs_everyChunkRunsExactlyOnce(int threads) throws Exception {
        try (KernelPool pool = new KernelPool(threads)) {
            for (int round = 0; round < 400; round++) {
                int chunks = 1 + round % 37;
                AtomicIntegerArray runs = new AtomicIntegerArray(chunks);
                pool.run((worker, chunk) -> {
                    assertThat(worker).isBetween(0, threads - 1);
                    runs.incrementAndGet(chunk);
                }, chunks, true);
                for (int c = 0; c < chunks; c++) {
                    assertThat(runs.get(c)).as("round %d chunk %d", round, c).isEqualTo(1);
                }
                if (round == 200) {
                    Thread.sleep(5); // lets the workers park, so the next round must wake them
                }
            }
        }
    }

    @Test
    void run_workersShareTheChunks_whenTheyAreSlow() {
        try (KernelPool pool = new KernelPool(2)) {
            AtomicIntegerArray byWorker = new AtomicIntegerArray(2);
            for (int round = 0; round < 20; round++) {
                pool.run((worker, chunk) -> {
                    byWorker.incrementAndGet(worker);
                    LockSupport.parkNanos(200_000);
                }, 8, true);
            }
            assertThat(byWorker.get(0) + byWorker.get(1)).isEqualTo(160);
            assertThat(byWorker.get(1)).as("chunks taken by the pool thread").isPositive();
        }
    }

    @Test
    void run_afterLongAndShortGaps_wakesParkedAndSpinningWorkers() throws Exception {
        // Long gaps make the workers' spin budgets run out (they park and halve it), short ones
        // catch them spinning: every job must complete with every chunk run once either way.
        try (KernelPool pool = new KernelPool(3)) {
            for (int round = 0; round < 60; round++) {
                AtomicIntegerArray runs = new AtomicIntegerArray(12);
                pool.run((worker, chunk) -> runs.incrementAndGet(chunk), 12, true);
                for (int c = 0; c < 12; c++) {
                    assertThat(runs.get(c)).as("round %d chunk %d", round, c).isEqualTo(1);
                }
                if (round % 3 == 0) {
                    Thread.sleep(1); // longer than the largest spin budget
                }
            }
        }
    }

    @Test
    void run_notParallel_runsInOrderOnTheCaller() {
        try (KernelPool pool = new KernelPool(3)) {
            StringBuilder order = new StringBuilder();
            Thread caller = Thread.currentThread();
            pool.run((worker, chunk) -> {
                assertThat(Thread.currentThread()).isSameAs(caller);
                assertThat(worker).isZero();
                order.append(chunk);
            }, 5, false);
            assertThat(order).hasToString("01234");
        }
    }

    @Test
    void run_workerWritesPlainArray_visibleToCallerAfterRun() {
        try (KernelPool pool = new KernelPool(3)) {
            long[] out = new long[64 * 100];
            for (int round = 1; round <= 50; round++) {
                int r = round;
                pool.run((worker, chunk) -> {
                    for (int i = chunk * 100; i < (chunk + 1) * 100; i++) {
                        out[i] = (long) r * i;
                    }
                }, 64, true);
                for (int i = 0; i < out.length; i++) {
                    assertThat(out[i]).isEqualTo((long) r * i);
                }
            }
        }
    }

    @Test
    void run_chunkThrows_callerGetsTheFailureAndPoolStaysUsable() {
        try (KernelPool pool = new KernelPool(2)) {
            assertThatThrownBy(() -> pool.run((worker, chunk) -> {
                if (chunk == 3) {
                    throw new IllegalStateException("boom in chunk 3");
                }
            }, 6, true)).isInstanceOf(IllegalStateException.class).hasMessage("boom in chunk 3");
            AtomicIntegerArray runs = new AtomicIntegerArray(4);
            pool.run((worker, chunk) -> runs.incrementAndGet(chunk), 4, true);
            assertThat(new int[] {runs.get(0), runs.get(1), runs.get(2), runs.get(3)}).containsExactly(1, 1, 1, 1);
        }
    }

    @Test
    void constructor_zeroThreads_isRejected() {
        assertThatThrownBy(() -> new KernelPool(0)).hasMessageContaining("1..1024");
    }
}
