package dev.tandem.engine.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.ops.KernelPlan.DecodeKernel;
import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class KernelTunerTest {
    /** Generous: rounds end after a fixed count on an idle machine; a loaded one compiles the kernels late. */
    private static final long BUDGET = 30_000_000_000L;

    @Test
    void gemmThreshold_smallestCountFromWhichBlockedAlwaysWins() {
        Map<String, Long> best = times(new long[] {10, 20, 40, 80, 160}, new long[] {30, 30, 35, 50, 90});
        assertThat(KernelTuner.gemmThreshold(best, DecodeKernel.INTEGER)).isEqualTo(8);
    }

    @Test
    void gemmThreshold_blockedLosingAtTheLargestCount_isTheMaximum() {
        Map<String, Long> best = times(new long[] {10, 20, 40, 80, 100}, new long[] {30, 10, 10, 10, 200});
        assertThat(KernelTuner.gemmThreshold(best, DecodeKernel.INTEGER)).isEqualTo(KernelPlan.MAX_GEMM_MIN_TOKENS);
    }

    @Test
    void gemmThreshold_readsTheChosenDecodeKernelsTimes() {
        Map<String, Long> best = times(new long[] {10, 20, 40, 80, 160}, new long[] {1, 1, 1, 1, 1});
        for (int t : KernelTuner.TOKEN_COUNTS) {
            best.put("dot float x" + t, 0L); // the float dot always wins, the integer one never
        }
        assertThat(KernelTuner.gemmThreshold(best, DecodeKernel.INTEGER)).isEqualTo(2);
        assertThat(KernelTuner.gemmThreshold(best, DecodeKernel.FLOAT)).isEqualTo(KernelPlan.MAX_GEMM_MIN_TOKENS);
    }

    @Test
    void gemmThreshold_rowTilesFasterThanBlocked_keepBlockedOff() {
        Map<String, Long> best = times(new long[] {10, 20, 40, 80, 160}, new long[] {30, 30, 35, 50, 90});
        best.put("rows x8", 30L); // faster than blocked at 8 only
        assertThat(KernelTuner.gemmThreshold(best, DecodeKernel.INTEGER)).isEqualTo(16);
    }

    @Test
    void floatClearlyFaster_onlyBeyondTheMargin() {
        assertThat(KernelTuner.floatClearlyFaster(99, 100)).as("1% faster: the integer dot stays").isFalse();
        assertThat(KernelTuner.floatClearlyFaster(80, 100)).isTrue();
        assertThat(KernelTuner.floatClearlyFaster(120, 100)).isFalse();
    }

    @Test
    void rowsThreshold_smallestCountBelowBlockedFromWhichRowTilesAlwaysWin() {
        Map<String, Long> best = times(new long[] {10, 20, 40, 80, 160}, new long[] {30, 30, 35, 50, 90});
        best.put("rows x2", 11L);
        best.put("rows x4", 15L);
        best.put("rows x8", 25L);
        best.put("rows x16", 45L);
        best.put("rows x32", 95L);
        assertThat(KernelTuner.rowsThreshold(best, DecodeKernel.INTEGER, 16)).isEqualTo(4);
        assertThat(KernelTuner.rowsThreshold(best, DecodeKernel.INTEGER, 4)).as("none below the blocked threshold")
                .isEqualTo(4);
        best.put("rows x8", 50L);
        assertThat(KernelTuner.rowsThreshold(best, DecodeKernel.INTEGER, 16)).as("losing just below blocked: never")
                .isEqualTo(16);
    }

    @Test
    void tune_largeModel_measuresAndSetsTheFastestPlanOnEveryMatrixOfTheType() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Simd.VECTOR_BITS <= Simd.nativeBits(),
                "kernels emulated in software at this width: their timings mean nothing");
        try (Arena arena = Arena.ofShared(); KernelPool pool = new KernelPool(1)) {
            List<WeightMatrix> q8 = List.of(matrix(arena, GgmlType.Q8_0, 4096, 4096), matrix(arena, GgmlType.Q8_0, 64, 4096));
            WeightMatrix f32 = matrix(arena, GgmlType.F32, 64, 256);
            List<KernelTuner.Choice> choices = new KernelTuner(new MatMul(pool), System::nanoTime, BUDGET, null, null)
                    .tune(List.of(q8.get(0), f32, q8.get(1)));

            assertThat(choices).extracting(KernelTuner.Choice::type).containsExactly(GgmlType.Q8_0, GgmlType.F32);
            KernelTuner.Choice c = choices.getFirst();
            long intNanos = c.bestNanos().get("dot integer");
            long floatNanos = c.bestNanos().get("dot float");
            if (c.measured()) {
                assertThat(c.plan().decode()).isEqualTo(KernelTuner.floatClearlyFaster(floatNanos, intNanos)
                        ? DecodeKernel.FLOAT : DecodeKernel.INTEGER);
                assertThat(c.describe()).contains("slower");
            } else {
                // the two kernels stayed more than 2x apart (one not compiled in time on a loaded
                // machine, or a width where one formulation is that much slower): the default stays
                assertThat(Math.max(intNanos, floatNanos)).isGreaterThan(2 * Math.min(intNanos, floatNanos));
                assertThat(c.plan().decode()).isEqualTo(DecodeKernel.INTEGER);
                assertThat(c.describe()).contains("integer dot (not measured)");
            }
            if (c.gemmMeasured()) {
                assertThat(c.plan().gemmMinTokens()).isEqualTo(KernelTuner.gemmThreshold(c.bestNanos(), c.plan().decode()));
                assertThat(c.plan().rowsMinTokens()).isEqualTo(
                        KernelTuner.rowsThreshold(c.bestNanos(), c.plan().decode(), c.plan().gemmMinTokens()));
            } else {
                // the rounds never settled within the budget (a loaded machine): the defaults stay, and say so
                assertThat(c.plan().gemmMinTokens()).isEqualTo(MatMul.GEMM_MIN_TOKENS);
                assertThat(c.plan().rowsMinTokens()).isEqualTo(Math.min(MatMul.ROWS_MIN_TOKENS, MatMul.GEMM_MIN_TOKENS));
                assertThat(c.describe()).endsWith("tokens (not measured)");
            }
            assertThat(q8).allSatisfy(m -> assertThat(m.plan()).isEqualTo(c.plan()));
            assertThat(f32.plan().decode()).isEqualTo(DecodeKernel.FLOAT);
            assertThat(c.describe()).startsWith("Q8_0: ").contains("blocked from");
        }
    }

    @Test
    void tune_smallModel_keepsTheDefaultsUnmeasured() {
        try (Arena arena = Arena.ofShared(); KernelPool pool = new KernelPool(1)) {
            WeightMatrix m = matrix(arena, GgmlType.Q4_0, 64, 512);
            List<KernelTuner.Choice> choices = new KernelTuner(new MatMul(pool), System::nanoTime, BUDGET, null, null)
                    .tune(List.of(m));
            assertThat(choices.getFirst().measured()).isFalse();
            assertThat(m.plan()).isEqualTo(new KernelPlan(DecodeKernel.INTEGER, MatMul.ROWS_MIN_TOKENS,
                    MatMul.GEMM_MIN_TOKENS));
        }
    }

    @Test
    void tune_overrides_winOverMeasurement() {
        try (Arena arena = Arena.ofShared(); KernelPool pool = new KernelPool(1)) {
            WeightMatrix m = matrix(arena, GgmlType.Q8_0, 4096, 4096);
            new KernelTuner(new MatMul(pool), System::nanoTime, 200_000_000L, "float", 12, 3).tune(List.of(m));
            assertThat(m.plan()).isEqualTo(new KernelPlan(DecodeKernel.FLOAT, 3, 12));
            new KernelTuner(new MatMul(pool), System::nanoTime, 0, "integer", null).tune(List.of(m));
            assertThat(m.plan()).isEqualTo(new KernelPlan(DecodeKernel.INTEGER, MatMul.ROWS_MIN_TOKENS,
                    MatMul.GEMM_MIN_TOKENS));
            new KernelTuner(new MatMul(pool), System::nanoTime, 0, "integer", 4, 16).tune(List.of(m));
            assertThat(m.plan()).as("row tiles at or above the blocked threshold: none")
                    .isEqualTo(new KernelPlan(DecodeKernel.INTEGER, 4, 4));
        }
    }

    @Test
    void badOverrides_areRefusedWithThePropertyName() {
        try (KernelPool pool = new KernelPool(1)) {
            assertThatThrownBy(() -> new KernelTuner(new MatMul(pool), System::nanoTime, 0, "fast", null))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(KernelTuner.DECODE_PROPERTY);
        }
        assertThatThrownBy(() -> new KernelPlan(DecodeKernel.FLOAT, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new KernelPlan(DecodeKernel.FLOAT, 8, 4)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("rowsMinTokens");
        try (Arena arena = Arena.ofShared()) {
            WeightMatrix f32 = matrix(arena, GgmlType.F32, 4, 64);
            assertThatThrownBy(() -> f32.usePlan(new KernelPlan(DecodeKernel.INTEGER, 4)))
                    .hasMessageContaining("no integer dot");
        }
    }

    private static WeightMatrix matrix(Arena arena, GgmlType type, int rows, int cols) {
        return RandomWeights.matrix(arena, type, rows, cols, 0, new SplittableRandom(rows * 31L + cols));
    }

    private static Map<String, Long> times(long[] dot, long[] blocked) {
        Map<String, Long> best = new HashMap<>();
        for (int i = 0; i < KernelTuner.TOKEN_COUNTS.length; i++) {
            int t = KernelTuner.TOKEN_COUNTS[i];
            best.put("dot integer x" + t, dot[i]);
            best.put("dot float x" + t, dot[i]);
            best.put("blocked x" + t, blocked[i]);
        }
        return best;
    }
}
