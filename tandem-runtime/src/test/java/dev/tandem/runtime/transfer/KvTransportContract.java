package dev.tandem.runtime.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What every {@link KvTransport} must do; each transport's test extends this with its own setup. */
@Timeout(30)
abstract class KvTransportContract {
    static final int SOURCE_BLOCKS = 64;
    static final int DESTINATION_BLOCKS = 64;

    Arena arena;
    KvMemory source;
    KvMemory destination;
    TransferMetrics metrics;
    KvTransport transport;
    PullSource pullSource;

    /** The source pool for {@code layout}; file-backed where the transport needs it. */
    abstract KvMemory newSourcePool(Arena arena, KvLayout layout, int blocks);

    /** A transport that reports to {@code listener}. */
    abstract KvTransport newTransport(TransferListener listener);

    /** Exposes {@code pool} and returns how to pull from it. */
    abstract PullSource expose(KvMemory pool);

    /** Stops serving (servers of the transport under test). */
    void unexpose() {
    }

    @BeforeEach
    void setUpPools() {
        arena = Arena.ofShared();
        source = newSourcePool(arena, TestPools.SMALL, SOURCE_BLOCKS);
        TestPools.fillRandom(source, 7);
        destination = TestPools.anonymous(arena, TestPools.SMALL, DESTINATION_BLOCKS);
        metrics = new TransferMetrics();
        transport = newTransport(metrics);
        pullSource = expose(source);
    }

    @AfterEach
    void tearDownPools() {
        transport.close();
        unexpose();
        arena.close();
        TestPools.delete(source);
    }

    static Deadline soon() {
        return Deadline.in(Duration.ofSeconds(10));
    }

    void assertCopied(int[] src, int[] dst) {
        for (int i = 0; i < src.length; i++) {
            assertThat(TestPools.checksum(destination, dst[i])).as("destination block %d <- source %d", dst[i], src[i])
                    .isEqualTo(TestPools.checksum(source, src[i]));
        }
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void pull_randomBlocks_copiedExactly(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int n = 1 + random.nextInt(40);
        int[] src = new int[n];
        int[] dst = new int[n];
        List<Integer> free = new ArrayList<>();
        for (int i = 0; i < DESTINATION_BLOCKS; i++) {
            free.add(i);
        }
        for (int i = 0; i < n; i++) {
            src[i] = random.nextInt(SOURCE_BLOCKS);
            dst[i] = free.remove(random.nextInt(free.size()));
        }
        TransferResult r = transport.pull(pullSource, src, destination, dst, soon());
        TransferResult.Done done = r.orThrow();
        assertThat(done.blocks()).isEqualTo(n);
        assertThat(done.bytes()).isEqualTo(n * source.blockBytes());
        assertThat(done.kind()).isEqualTo(transport.kind());
        assertCopied(src, dst);
    }

    @Test
    void pull_consecutiveRuns_coalescedIntoOneCopyEach() {
        int[] src = {10, 11, 12, 13, 30, 31, 40};
        int[] dst = {0, 1, 2, 3, 4, 5, 9};
        TransferResult.Done done = transport.pull(pullSource, src, destination, dst, soon()).orThrow();
        assertThat(done.runs()).isEqualTo(3);
        assertCopied(src, dst);
    }

    @Test
    void pull_wholePool_copiedExactly() {
        int[] ids = new int[SOURCE_BLOCKS];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i;
        }
        TransferResult.Done done = transport.pull(pullSource, ids, destination, ids, soon()).orThrow();
        assertThat(done.runs()).isEqualTo(1);
        assertCopied(ids, ids);
    }

    @Test
    void pull_layoutMismatch_failsBeforeAnyByteMoves() {
        KvLayout other = new KvLayout(4, 2, 2, 8, KvDtype.F32);
        KvMemory wrong = TestPools.anonymous(arena, other, 8);
        TransferResult r = transport.pull(pullSource, new int[] {0, 1}, wrong, new int[] {0, 1}, soon());
        assertThat(r).isInstanceOf(TransferResult.Failed.class);
        TransferResult.Failed f = (TransferResult.Failed) r;
        assertThat(f.reason()).isEqualTo(TransferFailure.LAYOUT_MISMATCH);
        assertThat(f.message()).contains("dtype F16 != F32");
        assertThat(TestPools.isZero(wrong, 0)).isTrue();
        assertThat(TestPools.isZero(wrong, 1)).isTrue();
        assertThat(metrics.snapshot(transport.kind()).servedBytes()).isZero();
    }

    @Test
    void pull_advertisedLayoutDiffersFromPool_failsBeforeAnyByteMoves() {
        // the peer advertises the destination's layout, but its pool is laid out otherwise
        KvLayout other = new KvLayout(4, 4, 2, 8, KvDtype.F16); // twice the layers: 1024-byte blocks
        KvMemory otherPool = newSourcePool(arena, other, 8);
        try {
            TestPools.fillRandom(otherPool, 9);
            PullSource lying = new PullSource(expose(otherPool).endpoint(), TestPools.SMALL, 0);
            TransferResult r = transport.pull(lying, new int[] {0, 1}, destination, new int[] {0, 1}, soon());
            assertThat(r).isInstanceOf(TransferResult.Failed.class);
            assertThat(((TransferResult.Failed) r).reason()).isIn(TransferFailure.LAYOUT_MISMATCH, TransferFailure.REJECTED);
            assertThat(TestPools.isZero(destination, 0)).isTrue();
            assertThat(TestPools.isZero(destination, 1)).isTrue();
        } finally {
            TestPools.delete(otherPool);
        }
    }

    @Test
    void pull_duplicateDestination_invalidRequest() {
        TransferResult r = transport.pull(pullSource, new int[] {1, 2}, destination, new int[] {3, 3}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.INVALID_REQUEST));
    }

    @Test
    void pull_sourceBlockOutOfRange_failsWithoutFilling() {
        TransferResult r = transport.pull(pullSource, new int[] {SOURCE_BLOCKS}, destination, new int[] {0}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isIn(TransferFailure.INVALID_REQUEST, TransferFailure.REJECTED));
        assertThat(TestPools.isZero(destination, 0)).isTrue();
    }

    @Test
    void pull_deadlineAlreadyPassed_deadlineFailure() {
        TransferResult r = transport.pull(pullSource, new int[] {1}, destination, new int[] {1},
                new Deadline(System.nanoTime() - 1));
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.DEADLINE));
    }

    @Test
    void pull_severalAtOnce_allCopiedExactly() throws Exception {
        int threads = 8;
        int perThread = DESTINATION_BLOCKS / threads;
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<TransferResult>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int[] src = new int[perThread];
                int[] dst = new int[perThread];
                for (int i = 0; i < perThread; i++) {
                    src[i] = (t * 13 + i * 3) % SOURCE_BLOCKS;
                    dst[i] = t * perThread + i;
                }
                results.add(pool.submit(() -> {
                    TransferResult last = null;
                    for (int rep = 0; rep < 5; rep++) {
                        last = transport.pull(pullSource, src, destination, dst, soon());
                        last.orThrow();
                    }
                    assertCopied(src, dst);
                    return last;
                }));
            }
            for (Future<TransferResult> f : results) {
                assertThat(f.get().orThrow().blocks()).isEqualTo(perThread);
            }
        }
        assertThat(metrics.snapshot(transport.kind()).pulls()).isEqualTo(threads * 5);
        assertThat(metrics.snapshot(transport.kind()).blocks()).isEqualTo((long) threads * 5 * perThread);
    }

    @Test
    void pull_success_reportedToMetrics() {
        transport.pull(pullSource, new int[] {1, 2, 3}, destination, new int[] {4, 5, 6}, soon()).orThrow();
        TransferMetrics.Snapshot s = metrics.snapshot(transport.kind());
        assertThat(s.pulls()).isEqualTo(1);
        assertThat(s.blocks()).isEqualTo(3);
        assertThat(s.bytes()).isEqualTo(3 * source.blockBytes());
        assertThat(s.seconds()).isPositive();
        assertThat(s.failureCount()).isZero();
    }
}
