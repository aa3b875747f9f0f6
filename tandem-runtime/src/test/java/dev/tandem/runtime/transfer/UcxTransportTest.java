package dev.tandem.runtime.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import dev.tandem.core.KvLayout;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.runtime.Prerequisites;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The UCX transport over UCX's own shared-memory and TCP transports (no RDMA here). Skipped, with
 * the reason, when libucx cannot be loaded (failed where TANDEM_REQUIRE_UCX=1, see {@link Prerequisites}).
 */
class UcxTransportTest extends KvTransportContract {
    private final List<UcxTransferServer> servers = new ArrayList<>();

    @BeforeAll
    static void requireUcx() {
        Prerequisites.ucx();
    }

    @Override
    KvMemory newSourcePool(Arena arena, KvLayout layout, int blocks) {
        return TestPools.anonymous(arena, layout, blocks);
    }

    @Override
    KvTransport newTransport(TransferListener listener) {
        return new UcxTransport(listener);
    }

    @Override
    PullSource expose(KvMemory pool) {
        return new PullSource(serve(pool, ReadGuard.ALLOW_ALL).endpoint("127.0.0.1"), TestPools.SMALL, 0);
    }

    private UcxTransferServer serve(KvMemory pool, ReadGuard guard) {
        UcxTransferServer s = UcxTransferServer.start(pool, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                guard, metrics);
        servers.add(s);
        return s;
    }

    @Override
    void unexpose() {
        servers.forEach(UcxTransferServer::close);
    }

    @Test
    void pull_guardRefuses_rejectedAndNothingCopied() {
        UcxTransferServer guarded = serve(source, (handle, first, count) -> handle == 42);
        PullSource wrongHandle = new PullSource(guarded.endpoint("127.0.0.1"), TestPools.SMALL, 41);
        TransferResult r = transport.pull(wrongHandle, new int[] {1, 2}, destination, new int[] {1, 2}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class, f -> {
            assertThat(f.reason()).isEqualTo(TransferFailure.REJECTED);
            assertThat(f.message()).contains("not pinned by handle 41");
        });
        assertThat(TestPools.isZero(destination, 1)).isTrue();
    }

    @Test
    void pull_nobodyListening_failsWithinDeadline() throws IOException {
        int port;
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = ss.getLocalPort();
        }
        PullSource closed = new PullSource(new TransferEndpoint(TransferKind.UCX, "", "127.0.0.1:" + port),
                TestPools.SMALL, 0);
        long start = System.nanoTime();
        TransferResult r = transport.pull(closed, new int[] {1}, destination, new int[] {1},
                Deadline.in(Duration.ofSeconds(1)));
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isIn(TransferFailure.UNREACHABLE, TransferFailure.DEADLINE));
        assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(6_000);
    }

    @Test
    void pull_serverClosed_laterPullFailsThenNewServerWorks() {
        transport.pull(pullSource, new int[] {1}, destination, new int[] {1}, soon()).orThrow();
        servers.forEach(UcxTransferServer::close);
        TransferResult r = transport.pull(pullSource, new int[] {2}, destination, new int[] {2},
                Deadline.in(Duration.ofSeconds(1)));
        assertThat(r).isInstanceOf(TransferResult.Failed.class);
        assertThat(TestPools.isZero(destination, 2)).isTrue();
        PullSource again = expose(source);
        transport.pull(again, new int[] {3}, destination, new int[] {3}, soon()).orThrow();
        assertCopied(new int[] {3}, new int[] {3});
    }
}
