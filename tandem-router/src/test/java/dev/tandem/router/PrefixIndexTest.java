package dev.tandem.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class PrefixIndexTest {

    private static long[] words(PrefixIndex index, int... slots) {
        long[] mask = new long[index.words()];
        for (int s : slots) {
            mask[s >>> 6] |= 1L << s;
        }
        return mask;
    }

    private static int[] match(PrefixIndex index, long[] hashes, int... slots) {
        int[] depth = new int[index.maxWorkers()];
        java.util.Arrays.fill(depth, -1);
        index.match(hashes, hashes.length, words(index, slots), new long[PrefixIndex.scratchLength()], depth);
        return depth;
    }

    @Test
    void match_walksUntilFirstMissPerWorker() {
        PrefixIndex index = new PrefixIndex(8, 1000, 1, 0.8);
        long[] chain = {11, 12, 13, 14};
        for (int i = 0; i < 4; i++) {
            index.store(0, chain[i]);        // worker 0: all four
        }
        index.store(1, 11);                   // worker 1: first two
        index.store(1, 12);
        index.store(2, 11);                   // worker 2: blocks 0 and 2, so only block 0 counts
        index.store(2, 13);

        int[] depth = match(index, chain, 0, 1, 2, 3);

        assertThat(depth[0]).isEqualTo(4);
        assertThat(depth[1]).isEqualTo(2);
        assertThat(depth[2]).isEqualTo(1);
        assertThat(depth[3]).isZero();
        assertThat(depth[4]).as("not a candidate: untouched").isEqualTo(-1);
        index.checkInvariants();
    }

    @Test
    void match_returnsDeepestCandidateOverlap() {
        PrefixIndex index = new PrefixIndex(8, 1000, 1, 0.8);
        index.store(3, 1);
        index.store(3, 2);
        index.store(5, 1);
        assertThat(index.match(new long[] {1, 2, 3}, 3, words(index, 3, 5), new long[PrefixIndex.scratchLength()], new int[8])).isEqualTo(2);
        assertThat(index.match(new long[] {1, 2, 3}, 3, words(index, 5), new long[PrefixIndex.scratchLength()], new int[8])).isEqualTo(1);
        assertThat(index.match(new long[] {1, 2, 3}, 0, words(index, 3), new long[PrefixIndex.scratchLength()], new int[8])).isZero();
    }

    @Test
    void storeAndRemove_hashZero_isAnOrdinaryKey() {
        PrefixIndex index = new PrefixIndex(4, 100, 1, 0.8);
        assertThat(index.store(1, 0L)).isTrue();
        assertThat(index.store(1, 0L)).isFalse();
        assertThat(index.contains(1, 0L)).isTrue();
        assertThat(match(index, new long[] {0L, 7L}, 1)[1]).isEqualTo(1);
        List<Long> held = new ArrayList<>();
        index.forEachHashOf(1, held::add);
        assertThat(held).containsExactly(0L);
        assertThat(index.remove(1, 0L)).isTrue();
        assertThat(index.size()).isZero();
        index.checkInvariants();
    }

    @Test
    void remove_lastHolder_deletesEntryAndKeepsClusterReachable() {
        PrefixIndex index = new PrefixIndex(4, 10_000, 1, 0.8);
        for (long h = 1; h <= 2000; h++) {
            index.store((int) (h % 4), h);
        }
        for (long h = 1; h <= 2000; h += 3) {
            assertThat(index.remove((int) (h % 4), h)).isTrue();
        }
        assertThat(index.remove(0, 1)).as("already gone").isFalse();
        index.checkInvariants();
        for (long h = 1; h <= 2000; h++) {
            assertThat(index.contains((int) (h % 4), h)).as("hash %d", h).isEqualTo((h - 1) % 3 != 0);
        }
    }

    @Test
    void clearSlot_dropsOnlyThatWorker() {
        PrefixIndex index = new PrefixIndex(8, 10_000, 4, 0.8);
        for (long h = 1; h <= 500; h++) {
            index.store(2, h);
            if (h % 2 == 0) {
                index.store(6, h);
            }
        }
        assertThat(index.clearSlot(2)).isEqualTo(500);
        assertThat(index.blocksOf(2)).isZero();
        assertThat(index.blocksOf(6)).isEqualTo(250);
        assertThat(index.size()).as("entries only worker 2 held are gone").isEqualTo(250);
        index.checkInvariants();
    }

    @Test
    void match_moreThan64Workers_usesSeveralMaskWords() {
        PrefixIndex index = new PrefixIndex(130, 1000, 1, 0.8);
        assertThat(index.words()).isEqualTo(3);
        index.store(0, 5);
        index.store(64, 5);
        index.store(64, 6);
        index.store(129, 5);
        index.store(129, 6);
        index.store(129, 7);
        int[] depth = match(index, new long[] {5, 6, 7}, 0, 64, 129, 100);
        assertThat(depth[0]).isEqualTo(1);
        assertThat(depth[64]).isEqualTo(2);
        assertThat(depth[129]).isEqualTo(3);
        assertThat(depth[100]).isZero();
        assertThat(index.clearSlot(129)).isEqualTo(3);
        index.checkInvariants();
    }

    @Test
    void store_pastCap_prunesLeastRecentlyUsed() {
        // One shard, cap 10, prune target 0.8: the 11th entry triggers pruning down to 8.
        PrefixIndex index = new PrefixIndex(2, 10, 1, 0.8);
        for (long h = 1; h <= 10; h++) {
            index.store(0, h);                           // stamps 1..10
        }
        match(index, new long[] {1, 2}, 0);              // hashes 1 and 2 become the most recent
        index.store(1, 11);                              // 11 entries > 10: drop the 3 oldest
        assertThat(index.size()).isEqualTo(8);
        for (long h = 3; h <= 5; h++) {
            assertThat(index.contains(0, h)).as("hash %d is least recently used", h).isFalse();
        }
        for (long h : new long[] {1, 2, 6, 7, 8, 9, 10}) {
            assertThat(index.contains(0, h)).as("hash %d survives", h).isTrue();
        }
        assertThat(index.contains(1, 11)).isTrue();
        assertThat(index.prunedEntries()).isEqualTo(3);
        assertThat(index.blocksOf(0)).isEqualTo(7);
        index.checkInvariants();
    }

    @Test
    void constructor_badArguments_namedInMessage() {
        assertThatThrownBy(() -> new PrefixIndex(0, 10, 1, 0.8)).hasMessageContaining("maxWorkers");
        assertThatThrownBy(() -> new PrefixIndex(4, 10, 3, 0.8)).hasMessageContaining("power of two");
        assertThatThrownBy(() -> new PrefixIndex(4, 10, 1, 1.0)).hasMessageContaining("pruneTargetRatio");
        assertThatThrownBy(() -> new PrefixIndex(4, 10, 1, 0.8).store(4, 1)).hasMessageContaining("slot 4");
    }

    // ---------------------------------------------------------------- property tests

    static Stream<Arguments> seeds() {
        return LongStream.range(0, 12).mapToObj(i -> {
            long seed = 0x5EED_0000L + i * 7919;
            int maxWorkers = i % 3 == 0 ? 130 : 8;
            int shards = new int[] {1, 4, 64}[(int) (i % 3)];
            return Arguments.of(seed, maxWorkers, shards);
        });
    }

    /** A universe of chains that share prefixes, as real prompts do. */
    private static List<long[]> chains(SplittableRandom rnd, int count) {
        List<long[]> out = new ArrayList<>();
        for (int c = 0; c < count; c++) {
            int length = 1 + rnd.nextInt(12);
            long[] chain = new long[length];
            int shared = 0;
            if (!out.isEmpty() && rnd.nextInt(3) > 0) {
                long[] parent = out.get(rnd.nextInt(out.size()));
                shared = Math.min(parent.length, rnd.nextInt(length + 1));
                System.arraycopy(parent, 0, chain, 0, shared);
            }
            for (int i = shared; i < length; i++) {
                chain[i] = rnd.nextInt(50) == 0 ? 0L : rnd.nextLong();
            }
            out.add(chain);
        }
        return out;
    }

    private static int referenceDepth(Set<Long> held, long[] hashes) {
        int d = 0;
        while (d < hashes.length && held.contains(hashes[d])) {
            d++;
        }
        return d;
    }

    @ParameterizedTest(name = "seed={0} maxWorkers={1} shards={2}")
    @MethodSource("seeds")
    void randomOperations_matchBruteForceReference(long seed, int maxWorkers, int shards) {
        SplittableRandom rnd = new SplittableRandom(seed);
        PrefixIndex index = new PrefixIndex(maxWorkers, 1_000_000, shards, 0.8);
        Map<Integer, Set<Long>> reference = new HashMap<>();
        int workerCount = Math.min(maxWorkers, 6 + rnd.nextInt(6));
        int[] slots = new int[workerCount];
        for (int w = 0; w < workerCount; w++) {
            slots[w] = w * (maxWorkers / workerCount);       // spread over mask words
            reference.put(slots[w], new HashSet<>());
        }
        List<long[]> universe = chains(rnd, 200);
        for (int step = 0; step < 3000; step++) {
            int slot = slots[rnd.nextInt(workerCount)];
            Set<Long> held = reference.get(slot);
            int op = rnd.nextInt(100);
            if (op < 50) {
                long[] chain = universe.get(rnd.nextInt(universe.size()));
                int upTo = 1 + rnd.nextInt(chain.length);
                for (int i = 0; i < upTo; i++) {
                    assertThat(index.store(slot, chain[i])).as("seed %d step %d store", seed, step)
                            .isEqualTo(held.add(chain[i]));
                }
            } else if (op < 85) {
                long[] chain = universe.get(rnd.nextInt(universe.size()));
                long h = chain[rnd.nextInt(chain.length)];
                assertThat(index.remove(slot, h)).as("seed %d step %d remove", seed, step).isEqualTo(held.remove(h));
            } else if (op < 87) {
                assertThat(index.clearSlot(slot)).as("seed %d step %d clear", seed, step).isEqualTo(held.size());
                held.clear();
            } else {
                long[] query = universe.get(rnd.nextInt(universe.size()));
                int[] depth = match(index, query, slots);
                for (int s : slots) {
                    assertThat(depth[s]).as("seed %d step %d slot %d", seed, step, s)
                            .isEqualTo(referenceDepth(reference.get(s), query));
                }
            }
            if (step % 500 == 499) {
                index.checkInvariants();
                for (int s : slots) {
                    Set<Long> actual = new HashSet<>();
                    index.forEachHashOf(s, actual::add);
                    assertThat(actual).as("seed %d slot %d contents", seed, s).isEqualTo(reference.get(s));
                    assertThat(index.blocksOf(s)).isEqualTo(reference.get(s).size());
                }
            }
        }
    }

    @ParameterizedTest(name = "seed={0}")
    @MethodSource("seeds")
    void randomOperations_underCap_stayWithinCapAndSubsetOfReference(long seed, int maxWorkers, int shards) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int cap = 16 * shards;
        PrefixIndex index = new PrefixIndex(maxWorkers, cap, shards, 0.5 + rnd.nextDouble() * 0.4);
        Map<Integer, Set<Long>> reference = new HashMap<>();
        for (int step = 0; step < 4000; step++) {
            int slot = rnd.nextInt(Math.min(maxWorkers, 10));
            Set<Long> held = reference.computeIfAbsent(slot, s -> new HashSet<>());
            long h = rnd.nextInt(cap * 3);
            if (rnd.nextInt(4) > 0) {
                index.store(slot, h);
                held.add(h);
            } else {
                index.remove(slot, h);
                held.remove(h);
            }
            assertThat(index.size()).as("seed %d step %d", seed, step).isLessThanOrEqualTo(cap);
        }
        index.checkInvariants();
        for (Map.Entry<Integer, Set<Long>> e : reference.entrySet()) {
            Set<Long> actual = new HashSet<>();
            index.forEachHashOf(e.getKey(), actual::add);
            assertThat(e.getValue()).as("seed %d slot %d: pruning only forgets", seed, e.getKey())
                    .containsAll(actual);
        }
        assertThat(index.prunedEntries()).as("seed %d: the cap was hit", seed).isPositive();
    }

    @Test
    @Timeout(20)
    void match_concurrentWithWriter_seesOnlyStoredBlocks() throws Exception {
        // A writer stores and removes a moving window of chain blocks while readers walk; a
        // reader must never report a depth past the blocks the writer ever stored.
        PrefixIndex index = new PrefixIndex(4, 100_000, 8, 0.8);
        long[] chain = LongStream.range(1, 257).toArray();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread writer = Thread.ofPlatform().start(() -> {
            for (int round = 0; round < 400; round++) {
                for (int i = 0; i < 200; i++) {
                    index.store(1, chain[i]);
                }
                for (int i = 199; i >= 0; i--) {
                    index.remove(1, chain[i]);
                }
                for (long h = 1000 + round * 50L; h < 1050 + round * 50L; h++) {
                    index.store(2, h);   // growth and rehashing in every shard
                }
            }
        });
        Thread reader = Thread.ofPlatform().start(() -> {
            int[] depth = new int[4];
            long[] scratch = new long[PrefixIndex.scratchLength()];
            long[] cand = {0b110};
            try {
                while (writer.isAlive()) {
                    index.match(chain, chain.length, cand, scratch, depth);
                    assertThat(depth[1]).isBetween(0, 200);
                    assertThat(depth[2]).isZero();
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        writer.join();
        reader.join();
        assertThat(failure.get()).isNull();
        index.checkInvariants();
        assertThat(index.blocksOf(1)).isZero();
        assertThat(index.blocksOf(2)).isEqualTo(400 * 50);
    }
}
