package dev.tandem.engine.kvcache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.KvEvent;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BlockManagerTest {
    private static final int BS = 4;

    private final EventLog log = new EventLog();

    private static int[] tokens(int from, int count) {
        return IntStream.range(from, from + count).toArray();
    }

    private static BlockTable table(int[] tokens) {
        BlockTable t = new BlockTable(BS, 64);
        t.hashFullBlocks(tokens, tokens.length);
        return t;
    }

    @Test
    void allocate_freshManager_handsOutBlocksInOrder() {
        BlockManager m = new BlockManager(8, BS, log);
        BlockTable t = table(tokens(0, 10));
        assertThat(m.allocate(t, 10)).isTrue();
        assertThat(t.blockIds()).containsExactly(0, 1, 2);
        assertThat(m.activeBlocks()).isEqualTo(3);
        assertThat(m.freeBlocks()).isEqualTo(5);
        m.checkInvariants();
    }

    @Test
    void commit_fullBlocks_registersThemAndEmitsStoredWithChainedHashes() {
        BlockManager m = new BlockManager(8, BS, log);
        int[] toks = tokens(100, 10);
        BlockTable t = table(toks);
        m.allocate(t, 10);
        m.commit(t, 10);

        long[] expected = BlockHasher.sequenceHashes(toks, BS);
        assertThat(expected).hasSize(2);
        assertThat(log.events).hasSize(1);
        KvEvent.Stored s = (KvEvent.Stored) log.events.getFirst();
        assertThat(s.eventId()).isZero();
        assertThat(s.hasParent()).isFalse();
        assertThat(s.sequenceHashes()).containsExactly(expected);
        assertThat(s.localHashes()).containsExactly(BlockHasher.localHashes(toks, 10, BS));
        assertThat(m.registeredBlocks()).isEqualTo(2);
        assertThat(m.isRegistered(t.block(2))).as("partial last block").isFalse();
        m.checkInvariants();
    }

    @Test
    void commit_inSteps_secondEventNamesParent() {
        BlockManager m = new BlockManager(8, BS, log);
        int[] toks = tokens(0, 12);
        BlockTable t = table(toks);
        m.allocate(t, 12);
        m.commit(t, 5);  // block 0 only
        m.commit(t, 12); // blocks 1 and 2

        long[] hashes = BlockHasher.sequenceHashes(toks, BS);
        KvEvent.Stored second = (KvEvent.Stored) log.events.get(1);
        assertThat(second.eventId()).isEqualTo(1);
        assertThat(second.hasParent()).isTrue();
        assertThat(second.parentHash()).isEqualTo(hashes[0]);
        assertThat(second.sequenceHashes()).containsExactly(hashes[1], hashes[2]);
    }

    @Test
    void matchPrefix_sharedPrefixThenDivergence_reusesOnlyLeadingFullBlocks() {
        BlockManager m = new BlockManager(16, BS, log);
        int[] first = tokens(0, 10);              // blocks [0..4) [4..8) partial [8..10)
        BlockTable a = table(first);
        m.allocate(a, 10);
        m.commit(a, 10);
        m.release(a);

        int[] second = tokens(0, 14);
        second[5] = 999;                            // diverges inside block 1
        BlockTable b = table(second);
        assertThat(m.matchPrefix(b, 99)).isEqualTo(1);

        int[] third = tokens(0, 10);              // same 10 tokens: the partial block is not shared
        BlockTable c = table(third);
        assertThat(m.matchPrefix(c, 99)).isEqualTo(2);
        assertThat(m.cachedAmongPrefix(c, 2)).isEqualTo(2);
        m.acquirePrefix(c, 2);
        assertThat(c.blockIds()).containsExactly(0, 1);
        assertThat(c.committedCount()).isEqualTo(2);
        assertThat(m.cachedBlocks()).isZero();
        assertThat(m.activeBlocks()).isEqualTo(2);
        m.checkInvariants();
    }

    @Test
    void acquirePrefix_blockAlreadyActive_sharesItWithRefCountTwo() {
        BlockManager m = new BlockManager(16, BS, log);
        BlockTable a = table(tokens(0, 8));
        m.allocate(a, 8);
        m.commit(a, 8);
        BlockTable b = table(tokens(0, 9));
        m.acquirePrefix(b, m.matchPrefix(b, 2));
        assertThat(m.refCount(a.block(0))).isEqualTo(2);
        m.release(a);
        assertThat(m.refCount(b.block(0))).isEqualTo(1);
        assertThat(m.cachedBlocks()).isZero();
        m.release(b);
        assertThat(m.cachedBlocks()).isEqualTo(2);
        m.checkInvariants();
    }

    @Test
    void allocate_noFreeBlocks_evictsLeastRecentlyReleasedTailFirst() {
        BlockManager m = new BlockManager(4, BS, log);
        BlockTable a = table(tokens(0, 8));      // blocks 0,1
        BlockTable b = table(tokens(50, 8));     // blocks 2,3
        m.allocate(a, 8);
        m.allocate(b, 8);
        m.commit(a, 8);
        m.commit(b, 8);
        m.release(a);                            // LRU: a1, a0
        m.release(b);                            // LRU: a1, a0, b1, b0
        assertThat(m.cachedBlocks()).isEqualTo(4);

        BlockTable c = table(tokens(200, 4));
        m.allocate(c, 4);
        assertThat(c.blockIds()).containsExactly(1);
        KvEvent.Removed r1 = (KvEvent.Removed) log.events.getLast();
        assertThat(r1.sequenceHashes()).containsExactly(a.sequenceHash(1));

        BlockTable d = table(tokens(300, 8));
        m.allocate(d, 8);
        assertThat(d.blockIds()).containsExactly(0, 3);
        KvEvent.Removed r2 = (KvEvent.Removed) log.events.getLast();
        assertThat(r2.sequenceHashes()).containsExactly(a.sequenceHash(0), b.sequenceHash(1));
        assertThat(r2.eventId()).isEqualTo(r1.eventId() + 1);
        m.checkInvariants();
    }

    @Test
    void acquirePrefix_cachedBlock_isTouchedAndEvictedLast() {
        BlockManager m = new BlockManager(3, BS, log);
        BlockTable a = table(tokens(0, 4));
        BlockTable b = table(tokens(10, 4));
        BlockTable c = table(tokens(20, 4));
        for (BlockTable t : List.of(a, b, c)) {
            m.allocate(t, 4);
            m.commit(t, 4);
        }
        m.release(a);
        m.release(b);
        m.release(c);                            // LRU: a, b, c
        BlockTable a2 = table(tokens(0, 5));
        m.acquirePrefix(a2, m.matchPrefix(a2, 1));
        m.release(a2);                           // LRU: b, c, a
        BlockTable x = table(tokens(90, 4));
        m.allocate(x, 4);
        assertThat(((KvEvent.Removed) log.events.getLast()).sequenceHashes()).containsExactly(b.sequenceHash(0));
        m.checkInvariants();
    }

    @Test
    void allocate_notEnoughBlocks_returnsFalseAndChangesNothing() {
        BlockManager m = new BlockManager(4, BS, log);
        BlockTable a = table(tokens(0, 12));
        m.allocate(a, 12);
        BlockTable b = table(tokens(0, 8));
        assertThat(m.allocate(b, 8)).isFalse();
        assertThat(b.blockCount()).isZero();
        assertThat(m.activeBlocks()).isEqualTo(3);
        assertThat(m.allocate(b, 4)).isTrue();
        m.checkInvariants();
    }

    @Test
    void commit_hashAlreadyRegisteredElsewhere_keepsOwnBlockUnregisteredAndSplitsRun() {
        BlockManager m = new BlockManager(16, BS, log);
        int[] toks = tokens(0, 12);
        BlockTable a = table(toks);
        m.allocate(a, 4);
        m.commit(a, 4);                          // registers block 0 of a
        BlockTable b = table(toks);              // computed the same prompt without sharing
        m.allocate(b, 12);
        m.commit(b, 12);
        assertThat(m.isRegistered(b.block(0))).isFalse();
        assertThat(m.isRegistered(b.block(1))).isTrue();
        KvEvent.Stored s = (KvEvent.Stored) log.events.getLast();
        assertThat(s.hasParent()).isTrue();
        assertThat(s.parentHash()).isEqualTo(a.sequenceHash(0));
        assertThat(s.sequenceHashes()).containsExactly(b.sequenceHash(1), b.sequenceHash(2));
        m.release(b);
        assertThat(m.freeBlocks()).as("the duplicate goes back to the free stack").isEqualTo(16 - 1 - 3 + 1);
        m.checkInvariants();
    }

    @Test
    void clear_activeAndCachedBlocks_unregistersAllAndEmitsCleared() {
        BlockManager m = new BlockManager(8, BS, log);
        BlockTable a = table(tokens(0, 8));
        BlockTable b = table(tokens(40, 8));
        m.allocate(a, 8);
        m.commit(a, 8);
        m.allocate(b, 8);
        m.commit(b, 8);
        m.release(a);
        m.clear();
        assertThat(log.events.getLast()).isInstanceOf(KvEvent.Cleared.class);
        assertThat(m.registeredBlocks()).isZero();
        assertThat(m.snapshot().sequenceHashes()).isEmpty();
        assertThat(m.snapshot().lastEventId()).isEqualTo(2);
        m.release(b);
        assertThat(m.freeBlocks()).isEqualTo(8);
        m.checkInvariants();
    }

    @Test
    void releaseWithTail_partlyComputedLastBlock_isTakenOverByASequenceThatContinuesIt() {
        BlockManager m = new BlockManager(8, BS, log);
        int[] first = tokens(0, 10); // blocks 0..1 full, block 2 holds 2 computed tokens
        BlockTable t1 = table(first);
        m.allocate(t1, 11);
        m.commit(t1, 10);
        int lastBlock = t1.block(2);
        m.release(t1, first, 10);
        assertThat(m.tailBlocks()).isEqualTo(1);
        assertThat(m.cachedBlocks()).isEqualTo(3);
        m.checkInvariants();

        int[] next = tokens(0, 16); // the same 10 tokens, then 6 more
        BlockTable t2 = table(next);
        int hit = m.matchPrefix(t2, (next.length - 1) / BS);
        assertThat(hit).isEqualTo(2);
        assertThat(m.matchTail(t2, hit, next, next.length - 1 - hit * BS)).isEqualTo(2);
        m.acquirePrefix(t2, hit);
        m.acquireTail(t2, hit);
        assertThat(t2.blockIds()).containsExactly(0, 1, lastBlock);
        assertThat(m.tailBlocks()).isZero();
        assertThat(m.refCount(lastBlock)).isEqualTo(1);
        m.checkInvariants();
        assertThat(m.allocate(t2, 16)).isTrue();
        m.commit(t2, 16);
        m.release(t2);
        m.checkInvariants();
        assertThat(m.activeBlocks()).isZero();
    }

    @Test
    void matchTail_divergingTokensOrOtherParent_matchesOnlyTheCommonPart() {
        BlockManager m = new BlockManager(8, BS, log);
        int[] first = tokens(0, 7); // block 0 full, tail of 3 tokens (4, 5, 6)
        BlockTable t1 = table(first);
        m.allocate(t1, 8);
        m.commit(t1, 7);
        m.release(t1, first, 7);

        int[] diverging = {0, 1, 2, 3, 4, 9, 9, 9, 9};
        BlockTable t2 = table(diverging);
        assertThat(m.matchTail(t2, 1, diverging, 7)).as("common part of the tail").isEqualTo(1);
        assertThat(m.matchTail(t2, 1, diverging, 0)).as("last token always computed").isZero();
        int[] otherParent = {7, 7, 7, 7, 4, 5, 6, 8};
        BlockTable t3 = table(otherParent);
        assertThat(m.matchTail(t3, 1, otherParent, 6)).as("a tail belongs to its parent block").isZero();
        assertThat(m.matchTail(t3, 0, otherParent, 6)).as("no tail at the start").isZero();
    }

    @Test
    void tail_evictedLikeACachedBlock_withoutAnEvent() {
        BlockManager m = new BlockManager(3, BS, log);
        int[] first = tokens(0, 6); // block 0 full and registered, block 1 a tail of 2 tokens
        BlockTable t1 = table(first);
        m.allocate(t1, 7);
        m.commit(t1, 6);
        m.release(t1, first, 6);
        int events = log.events.size();
        BlockTable big = table(tokens(50, 12));
        assertThat(m.allocate(big, 12)).isTrue(); // takes the free block, then the tail, then block 0
        assertThat(m.tailBlocks()).isZero();
        assertThat(log.events.subList(events, log.events.size())).singleElement()
                .isInstanceOfSatisfying(KvEvent.Removed.class, r -> assertThat(r.sequenceHashes()).hasSize(1));
        m.checkInvariants();
    }

    @Test
    void releaseWithTail_newerTailOfTheSameParent_replacesTheOlder() {
        BlockManager m = new BlockManager(8, BS, log);
        int[] a = {0, 1, 2, 3, 10, 11};
        int[] b = {0, 1, 2, 3, 20, 21, 22};
        BlockTable ta = table(a);
        m.allocate(ta, 6);
        m.commit(ta, 6);
        BlockTable tb = table(b);
        m.acquirePrefix(tb, m.matchPrefix(tb, 1));
        m.allocate(tb, 7);
        m.commit(tb, 7);
        m.release(ta, a, 6);
        m.release(tb, b, 7);
        assertThat(m.tailBlocks()).isEqualTo(1);
        BlockTable probe = table(new int[] {0, 1, 2, 3, 20, 21, 22, 23});
        assertThat(m.matchTail(probe, 1, new int[] {0, 1, 2, 3, 20, 21, 22, 23}, 7)).isEqualTo(3);
        m.checkInvariants();
    }

    @Test
    void release_twice_throwsInsteadOfGoingNegative() {
        BlockManager m = new BlockManager(4, BS, log);
        BlockTable a = table(tokens(0, 4));
        m.allocate(a, 4);
        int block = a.block(0);
        m.release(a);
        assertThatThrownBy(() -> m.release(block)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("refCount 0");
        m.checkInvariants();
    }

    @Test
    void snapshot_beforeAnyEvent_hasLastEventIdMinusOne() {
        BlockManager m = new BlockManager(4, BS, log);
        assertThat(m.snapshot().lastEventId()).isEqualTo(-1);
        assertThat(m.snapshot().sequenceHashes()).isEmpty();
    }

    /**
     * Random sequences of allocate / commit / acquire-prefix / release / pin / clear against a
     * small pool: invariants hold after every operation, the snapshot always equals the replay of
     * the events, reference counts match the live tables, and everything returns to the pool.
     */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
    void randomOperations_seeded_invariantsHoldAndAllBlocksReturn(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int total = 6 + rnd.nextInt(20);
        BlockManager m = new BlockManager(total, BS, log);
        List<BlockTable> live = new ArrayList<>();
        List<int[]> liveTokens = new ArrayList<>();
        List<Integer> pins = new ArrayList<>();
        try {
            for (int op = 0; op < 400; op++) {
                int kind = rnd.nextInt(10);
                if (kind < 4) {
                    // a new sequence over a few shared prefixes
                    int len = 1 + rnd.nextInt(20);
                    int[] toks = new int[len];
                    int family = rnd.nextInt(3);
                    for (int i = 0; i < len; i++) {
                        toks[i] = rnd.nextInt(8) == 0 ? rnd.nextInt(1000) : family * 100 + i;
                    }
                    BlockTable t = new BlockTable(BS, len);
                    t.hashFullBlocks(toks, len);
                    int hit = m.matchPrefix(t, (len - 1) / BS);
                    int tail = m.matchTail(t, hit, toks, len - 1 - hit * BS);
                    m.acquirePrefix(t, hit);
                    if (tail > 0) {
                        m.acquireTail(t, hit);
                    }
                    if (m.allocate(t, len)) {
                        m.commit(t, hit * BS + tail + rnd.nextInt(len - hit * BS - tail + 1));
                        live.add(t);
                        liveTokens.add(toks);
                    } else {
                        m.release(t);
                    }
                } else if (kind < 7 && !live.isEmpty()) {
                    int i = rnd.nextInt(live.size());
                    BlockTable t = live.remove(i);
                    int[] toks = liveTokens.remove(i);
                    m.commit(t, toks.length);
                    if (rnd.nextInt(4) == 0 && t.blockCount() > 0) {
                        int b = t.block(rnd.nextInt(t.blockCount()));
                        m.retain(b);
                        pins.add(b);
                    }
                    if (rnd.nextBoolean()) {
                        m.release(t, toks, rnd.nextInt(toks.length + 1)); // may keep a tail
                    } else {
                        m.release(t);
                    }
                } else if (kind < 9 && !pins.isEmpty()) {
                    m.release((int) pins.remove(rnd.nextInt(pins.size())));
                } else if (kind == 9 && rnd.nextInt(10) == 0) {
                    m.clear();
                }
                m.checkInvariants();
                checkRefCounts(m, live, pins);
                assertThat(EventLog.replay(log.events, m.lastEventId())).containsExactly(EventLog.sorted(m.snapshot()));
            }
            live.forEach(m::release);
            pins.forEach(m::release);
            m.checkInvariants();
            assertThat(m.activeBlocks()).isZero();
            assertThat(m.freeBlocks() + m.cachedBlocks()).isEqualTo(total);
            assertThat(m.cachedBlocks()).isEqualTo(m.registeredBlocks() + m.tailBlocks());
        } catch (AssertionError | RuntimeException e) {
            throw new AssertionError("seed " + seed + ": " + e.getMessage(), e);
        }
    }

    private static void checkRefCounts(BlockManager m, List<BlockTable> live, List<Integer> pins) {
        int[] expected = new int[m.totalBlocks()];
        for (BlockTable t : live) {
            for (int b : t.blockIds()) {
                expected[b]++;
            }
        }
        for (int b : pins) {
            expected[b]++;
        }
        for (int b = 0; b < expected.length; b++) {
            assertThat(m.refCount(b)).as("refCount of block %d", b).isEqualTo(expected[b]);
        }
    }
}
