package dev.tandem.runtime.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BlockRunsTest {
    @Test
    void coalesce_consecutiveOnBothSides_oneRun() {
        assertThat(BlockRuns.coalesce(new int[] {5, 6, 7, 8}, new int[] {0, 1, 2, 3}, 100, 100))
                .containsExactly(new BlockRun(5, 0, 4));
    }

    @Test
    void coalesce_breakOnEitherSide_startsNewRun() {
        assertThat(BlockRuns.coalesce(new int[] {1, 2, 3, 9, 10, 11}, new int[] {0, 1, 5, 6, 7, 20}, 100, 100))
                .containsExactly(new BlockRun(1, 0, 2), new BlockRun(3, 5, 1), new BlockRun(9, 6, 2),
                        new BlockRun(11, 20, 1));
    }

    @Test
    void coalesce_descendingIds_oneRunPerBlock() {
        assertThat(BlockRuns.coalesce(new int[] {3, 2, 1}, new int[] {3, 2, 1}, 10, 10)).hasSize(3);
    }

    @Test
    void coalesce_badInput_clearError() {
        assertThatThrownBy(() -> BlockRuns.coalesce(new int[] {1}, new int[] {1, 2}, 10, 10))
                .hasMessageContaining("source has 1 block ids but destination has 2");
        assertThatThrownBy(() -> BlockRuns.coalesce(new int[] {10}, new int[] {1}, 10, 10))
                .hasMessageContaining("source block 10 outside pool of 10");
        assertThatThrownBy(() -> BlockRuns.coalesce(new int[] {1}, new int[] {-1}, 10, 10))
                .hasMessageContaining("destination block -1");
        assertThatThrownBy(() -> BlockRuns.coalesce(new int[] {1, 2}, new int[] {4, 4}, 10, 10))
                .hasMessageContaining("destination block 4 named twice");
        assertThatThrownBy(() -> BlockRuns.coalesce(new int[0], new int[0], 10, 10))
                .hasMessageContaining("no blocks");
    }

    @Test
    void split_longRun_piecesOfAtMostMax() {
        assertThat(BlockRuns.split(List.of(new BlockRun(10, 100, 5)), 2))
                .containsExactly(new BlockRun(10, 100, 2), new BlockRun(12, 102, 2), new BlockRun(14, 104, 1));
    }

    /** Expanding the runs gives back the pairs, and no two adjacent runs could have been merged. */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 42, 1337})
    void coalesce_randomPairs_runsExpandToPairsAndAreMaximal(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int n = 1 + random.nextInt(200);
        int[] src = new int[n];
        int[] dst = new int[n];
        int s = random.nextInt(50);
        int d = random.nextInt(50);
        for (int i = 0; i < n; i++) {
            if (random.nextInt(4) == 0) {
                s += 1 + random.nextInt(5);
            }
            if (random.nextInt(4) == 0) {
                d += 1 + random.nextInt(5);
            }
            src[i] = s++;
            dst[i] = d++;
        }
        List<BlockRun> runs = BlockRuns.coalesce(src, dst, 10_000, 10_000);
        List<int[]> expanded = new ArrayList<>();
        for (BlockRun r : runs) {
            for (int k = 0; k < r.blockCount(); k++) {
                expanded.add(new int[] {r.sourceFirst() + k, r.destinationFirst() + k});
            }
        }
        assertThat(expanded).as("seed %d", seed).hasSize(n);
        for (int i = 0; i < n; i++) {
            assertThat(expanded.get(i)).as("seed %d pair %d", seed, i).containsExactly(src[i], dst[i]);
        }
        for (int i = 1; i < runs.size(); i++) {
            BlockRun a = runs.get(i - 1);
            BlockRun b = runs.get(i);
            boolean mergeable = a.sourceFirst() + a.blockCount() == b.sourceFirst()
                    && a.destinationFirst() + a.blockCount() == b.destinationFirst();
            assertThat(mergeable).as("seed %d runs %d and %d could merge", seed, i - 1, i).isFalse();
        }
        assertThat(BlockRuns.blockCount(runs)).isEqualTo(n);
    }

    @Test
    void copy_runs_eachRunLandsAtItsDestinationBlocks() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment source = arena.allocate(8 * 16);
            MemorySegment destination = arena.allocate(8 * 16);
            for (int b = 0; b < 8; b++) {
                source.asSlice(b * 16L, 16).fill((byte) (b + 1));
            }
            List<BlockRun> runs = List.of(new BlockRun(1, 4, 2), new BlockRun(6, 0, 1));

            boolean done = BlockRuns.copy(runs, 16, source, destination, Deadline.in(Duration.ofSeconds(5)));

            assertThat(done).isTrue();
            byte[] firstBytes = new byte[8];
            for (int b = 0; b < 8; b++) {
                firstBytes[b] = destination.get(ValueLayout.JAVA_BYTE, b * 16L + 15);
            }
            assertThat(firstBytes).containsExactly(7, 0, 0, 0, 2, 3, 0, 0);
        }
    }

    @Test
    void copy_deadlinePassed_returnsFalseAndCopiesNothing() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment source = arena.allocate(64).fill((byte) 9);
            MemorySegment destination = arena.allocate(64);

            boolean done = BlockRuns.copy(List.of(new BlockRun(0, 0, 4)), 16, source, destination,
                    new Deadline(System.nanoTime() - 1));

            assertThat(done).isFalse();
            assertThat(destination.toArray(ValueLayout.JAVA_BYTE)).containsOnly(0);
        }
    }
}
