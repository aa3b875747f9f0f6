package dev.tandem.runtime.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.KvHandle;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.runtime.Prerequisites;
import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Two workers' transfer planes: a prefill side serving its pool and a decode side pulling by handle. */
@Timeout(30)
class TransferPlaneTest {
    private Arena arena;
    private KvMemory prefillPool;
    private KvMemory decodePool;
    private final TransferMetrics metrics = new TransferMetrics();

    @BeforeEach
    void setUp() {
        arena = Arena.ofShared();
        prefillPool = TestPools.shmFile(arena, TestPools.SMALL, 32, "plane");
        TestPools.fillRandom(prefillPool, 3);
        decodePool = TestPools.anonymous(arena, TestPools.SMALL, 32);
    }

    @AfterEach
    void tearDown() {
        arena.close();
        TestPools.delete(prefillPool);
    }

    /** Every transport Tandem serves and pulls with (not the engines' own). */
    private static final TransferKind[] TANDEM_KINDS = TransportSelector.PREFERENCE.toArray(TransferKind[]::new);

    private static TransferConfig config(String hostId, TransferKind... kinds) {
        return new TransferConfig(Set.of(kinds), "127.0.0.1", 0, 0, "127.0.0.1", hostId);
    }

    private static KvHandle handle(List<TransferEndpoint> endpoints, long expiresAtMs) {
        return new KvHandle(7, "prefill-0", endpoints, new int[] {4, 5, 6, 7}, new long[] {41, 51, 61, 71}, 4 * TestPools.SMALL.blockSizeTokens(), TestPools.SMALL, expiresAtMs);
    }

    private void pullAndCheck(TransferPlane decode, KvHandle h, TransferKind expected) {
        TransferResult.Done done = decode.pull(h, h.blockIds(), decodePool, new int[] {0, 1, 2, 3},
                Deadline.in(Duration.ofSeconds(5))).orThrow();
        assertThat(done.kind()).isEqualTo(expected);
        assertThat(done.runs()).isEqualTo(1);
        for (int i = 0; i < 4; i++) {
            assertThat(TestPools.checksum(decodePool, i)).isEqualTo(TestPools.checksum(prefillPool, 4 + i));
        }
    }

    @Test
    void pull_sameJvm_usesLocal() {
        LocalPools hub = new LocalPools();
        try (TransferPlane prefill = new TransferPlane(config("h1", TransferKind.LOCAL, TransferKind.SHM, TransferKind.TCP),
                hub, metrics);
             TransferPlane decode = new TransferPlane(config("h1", TransferKind.LOCAL, TransferKind.SHM, TransferKind.TCP),
                     hub, metrics)) {
            List<TransferEndpoint> eps = prefill.serve("prefill-0", prefillPool, ReadGuard.ALLOW_ALL);
            assertThat(eps).extracting(TransferEndpoint::kind)
                    .containsExactly(TransferKind.LOCAL, TransferKind.SHM, TransferKind.TCP);
            pullAndCheck(decode, handle(eps, Long.MAX_VALUE), TransferKind.LOCAL);
        }
        assertThat(metrics.snapshot(TransferKind.LOCAL).pulls()).isEqualTo(1);
    }

    @Test
    void pull_sameHostOtherJvm_usesShm() {
        try (TransferPlane prefill = new TransferPlane(config("h1", TransferKind.LOCAL, TransferKind.SHM, TransferKind.TCP),
                new LocalPools(), metrics);
             TransferPlane decode = new TransferPlane(config("h1", TransferKind.LOCAL, TransferKind.SHM, TransferKind.TCP),
                     new LocalPools(), metrics)) {
            List<TransferEndpoint> eps = prefill.serve("prefill-0", prefillPool, ReadGuard.ALLOW_ALL);
            pullAndCheck(decode, handle(eps, Long.MAX_VALUE), TransferKind.SHM);
        }
    }

    @Test
    void pull_otherHost_usesTcp() {
        try (TransferPlane prefill = new TransferPlane(config("h1", TransferKind.LOCAL, TransferKind.SHM, TransferKind.TCP),
                new LocalPools(), metrics);
             TransferPlane decode = new TransferPlane(config("h2", TransferKind.LOCAL, TransferKind.SHM, TransferKind.TCP),
                     new LocalPools(), metrics)) {
            List<TransferEndpoint> eps = prefill.serve("prefill-0", prefillPool, ReadGuard.ALLOW_ALL);
            pullAndCheck(decode, handle(eps, Long.MAX_VALUE), TransferKind.TCP);
            // the server counts a READ after its write returns, which may be just after the pull returns
            long until = System.nanoTime() + 5_000_000_000L;
            while (metrics.snapshot(TransferKind.TCP).servedBlocks() < 4 && System.nanoTime() < until) {
                Thread.onSpinWait();
            }
            assertThat(metrics.snapshot(TransferKind.TCP).servedBlocks()).isEqualTo(4);
        }
    }

    @Test
    void pull_otherHostBothWithUcx_usesUcx() {
        Prerequisites.ucx();
        try (TransferPlane prefill = new TransferPlane(config("h1", TANDEM_KINDS), new LocalPools(), metrics);
             TransferPlane decode = new TransferPlane(config("h2", TANDEM_KINDS), new LocalPools(), metrics)) {
            List<TransferEndpoint> eps = prefill.serve("prefill-0", prefillPool, ReadGuard.ALLOW_ALL);
            assertThat(eps).extracting(TransferEndpoint::kind)
                    .containsExactly(TransferKind.LOCAL, TransferKind.SHM, TransferKind.UCX, TransferKind.TCP);
            pullAndCheck(decode, handle(eps, Long.MAX_VALUE), TransferKind.UCX);
        }
    }

    @Test
    void pull_expiredHandle_expiredWithoutCopy() {
        LocalPools hub = new LocalPools();
        try (TransferPlane prefill = new TransferPlane(config("h1", TransferKind.LOCAL), hub, metrics);
             TransferPlane decode = new TransferPlane(config("h1", TransferKind.LOCAL), hub, metrics)) {
            List<TransferEndpoint> eps = prefill.serve("prefill-0", prefillPool, ReadGuard.ALLOW_ALL);
            TransferResult r = decode.pull(handle(eps, System.currentTimeMillis() - 1), new int[] {4}, decodePool,
                    new int[] {0}, Deadline.in(Duration.ofSeconds(5)));
            assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                    f -> assertThat(f.reason()).isEqualTo(TransferFailure.EXPIRED));
            assertThat(TestPools.isZero(decodePool, 0)).isTrue();
        }
    }

    @Test
    void pull_noSharedTransport_unreachable() {
        try (TransferPlane prefill = new TransferPlane(config("h1", TransferKind.LOCAL), new LocalPools(), metrics);
             TransferPlane decode = new TransferPlane(config("h1", TransferKind.LOCAL, TransferKind.TCP),
                     new LocalPools(), metrics)) {
            List<TransferEndpoint> eps = prefill.serve("prefill-0", prefillPool, ReadGuard.ALLOW_ALL);
            TransferResult r = decode.pull(handle(eps, Long.MAX_VALUE), new int[] {4}, decodePool, new int[] {0},
                    Deadline.in(Duration.ofSeconds(5)));
            assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class, f -> {
                assertThat(f.reason()).isEqualTo(TransferFailure.UNREACHABLE);
                assertThat(f.message()).contains("no transport shared");
            });
        }
    }

    @Test
    void close_prefillPlaneStopped_laterPullsFail() {
        LocalPools hub = new LocalPools();
        TransferPlane prefill = new TransferPlane(config("h1", TransferKind.LOCAL, TransferKind.TCP), hub, metrics);
        List<TransferEndpoint> eps = prefill.serve("prefill-0", prefillPool, ReadGuard.ALLOW_ALL);
        prefill.close();
        try (TransferPlane decode = new TransferPlane(config("h1", TransferKind.LOCAL), hub, metrics)) {
            TransferResult r = decode.pull(handle(eps, Long.MAX_VALUE), new int[] {4}, decodePool, new int[] {0},
                    Deadline.in(Duration.ofSeconds(5)));
            assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                    f -> assertThat(f.reason()).isEqualTo(TransferFailure.UNREACHABLE));
        }
    }
}
