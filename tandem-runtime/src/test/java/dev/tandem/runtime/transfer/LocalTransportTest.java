package dev.tandem.runtime.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.KvLayout;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class LocalTransportTest extends KvTransportContract {
    private final LocalPools hub = new LocalPools();
    private int exposed;

    @Override
    KvMemory newSourcePool(Arena arena, KvLayout layout, int blocks) {
        return TestPools.anonymous(arena, layout, blocks);
    }

    @Override
    KvTransport newTransport(TransferListener listener) {
        return new LocalTransport(hub, listener);
    }

    @Override
    PullSource expose(KvMemory pool) {
        return new PullSource(hub.expose("pool-" + exposed++, pool), TestPools.SMALL, 0);
    }

    @Test
    void pull_unknownPoolName_unreachable() {
        PullSource missing = new PullSource(new TransferEndpoint(TransferKind.LOCAL, hub.scopeId(), "nope"),
                TestPools.SMALL, 0);
        TransferResult r = transport.pull(missing, new int[] {1}, destination, new int[] {1}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.UNREACHABLE));
    }

    @Test
    void pull_endpointOfAnotherJvm_unreachable() {
        PullSource elsewhere = new PullSource(new TransferEndpoint(TransferKind.LOCAL, "jvm-other", "pool-0"),
                TestPools.SMALL, 0);
        TransferResult r = transport.pull(elsewhere, new int[] {1}, destination, new int[] {1}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.UNREACHABLE));
        assertThat(TestPools.isZero(destination, 1)).isTrue();
    }

    @Test
    void pull_sourcePoolClosed_peerFailed() {
        Arena sourceArena = Arena.ofShared();
        KvMemory closing = TestPools.anonymous(sourceArena, TestPools.SMALL, 4);
        PullSource src = expose(closing);
        sourceArena.close();
        TransferResult r = transport.pull(src, new int[] {1}, destination, new int[] {1}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.PEER_FAILED));
    }
}
