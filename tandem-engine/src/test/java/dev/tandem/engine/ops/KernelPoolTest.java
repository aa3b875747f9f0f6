package dev.tandem.engine.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class KernelPoolTest {
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void run_manyRounds_everyWorkerRunsOncePerRound(int threads) throws Exception {
        try (KernelPool pool = new KernelPool(threads)) {
            AtomicIntegerArray calls = new AtomicIntegerArray(threads);
            int[] seenCount = new int[1];
            for (int round = 0; round < 400; round++) {
                pool.run((worker, count) -> {
                    calls.incrementAndGet(worker);
                    if (worker == 0) {
                        seenCount[0] = count;
                    }
                });
                if (round == 200) {
                    Thread.sleep(5); // lets the workers park, so the next round must wake them
                }
            }
            assertThat(seenCount[0]).isEqualTo(threads);
            for (int w = 0; w < threads; w++) {
                assertThat(calls.get(w)).as("worker %d", w).isEqualTo(400);
            }
        }
    }

    @Test
    void run_workerWritesPlainArray_visibleToCallerAfterRun() {
        try (KernelPool pool = new KernelPool(3)) {
            long[] out = new long[3 * 1000];
            for (int round = 1; round <= 50; round++) {
                int r = round;
                pool.run((worker, count) -> {
                    for (int i = worker * 1000; i < (worker + 1) * 1000; i++) {
                        out[i] = (long) r * i;
                    }
                });
                for (int i = 0; i < out.length; i++) {
                    assertThat(out[i]).isEqualTo((long) r * i);
                }
            }
        }
    }

    @Test
    void run_workerThrows_callerGetsTheFailureAndPoolStaysUsable() {
        try (KernelPool pool = new KernelPool(2)) {
            assertThatThrownBy(() -> pool.run((worker, count) -> {
                if (worker == 1) {
                    throw new IllegalStateException("boom in worker 1");
                }
            })).isInstanceOf(IllegalStateException.class).hasMessage("boom in worker 1");
            AtomicIntegerArray calls = new AtomicIntegerArray(2);
            pool.run((worker, count) -> calls.incrementAndGet(worker));
            assertThat(calls.get(0) + calls.get(1)).isEqualTo(2);
        }
    }

    @Test
    void run_fewerWorkersRequested_onlyThoseRun() {
        try (KernelPool pool = new KernelPool(4)) {
            AtomicIntegerArray calls = new AtomicIntegerArray(4);
            pool.run((worker, count) -> calls.incrementAndGet(worker), 2);
            assertThat(new int[] {calls.get(0), calls.get(1), calls.get(2), calls.get(3)}).containsExactly(1, 1, 0, 0);
        }
    }

    @Test
    void split_anyPartition_coversRangeInAlignedDisjointParts() {
        for (int total : new int[] {0, 1, 5, 6, 7, 100, 2048}) {
            for (int parts = 1; parts <= 5; parts++) {
                int prevEnd = 0;
                for (int p = 0; p < parts; p++) {
                    int start = KernelPool.split(total, p, parts, 6);
                    int end = KernelPool.split(total, p + 1, parts, 6);
                    assertThat(start).isEqualTo(prevEnd);
                    assertThat(end).isGreaterThanOrEqualTo(start);
                    if (end < total) {
                        assertThat(end % 6).isZero();
                    }
                    prevEnd = end;
                }
                assertThat(prevEnd).isEqualTo(total);
            }
        }
    }

    @Test
    void constructor_zeroThreads_isRejected() {
        assertThatThrownBy(() -> new KernelPool(0)).hasMessageContaining("1..1024");
    }
}
