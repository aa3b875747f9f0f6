package dev.tandem.runtime.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.KvLayout;
import dev.tandem.core.ProtocolException;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class TcpTransportTest extends KvTransportContract {
    private final List<TcpTransferServer> servers = new ArrayList<>();
    private final List<AutoCloseable> fakes = new CopyOnWriteArrayList<>();

    @Override
    KvMemory newSourcePool(Arena arena, KvLayout layout, int blocks) {
        return TestPools.anonymous(arena, layout, blocks);
    }

    @Override
    KvTransport newTransport(TransferListener listener) {
        return new TcpTransport(listener, TcpTransport.Options.DEFAULT);
    }

    @Override
    PullSource expose(KvMemory pool) {
        return new PullSource(serve(pool, ReadGuard.ALLOW_ALL).endpoint("127.0.0.1"), TestPools.SMALL, 0);
    }

    private TcpTransferServer serve(KvMemory pool, ReadGuard guard) {
        TcpTransferServer s = TcpTransferServer.start(pool, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                guard, metrics, TcpTransferServer.Options.DEFAULT);
        servers.add(s);
        return s;
    }

    @Override
    void unexpose() {
        servers.forEach(TcpTransferServer::close);
    }

    @AfterEach
    void closeFakes() throws Exception {
        for (AutoCloseable c : fakes) {
            c.close();
        }
    }

    /** A raw server on loopback; each accepted socket is handed to {@code behaviour} on a virtual thread. */
    private PullSource fakeServer(Consumer<Socket> behaviour) throws IOException {
        ServerSocket ss = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
        fakes.add(ss);
        Thread.ofVirtual().start(() -> {
            while (!ss.isClosed()) {
                try {
                    Socket s = ss.accept();
                    fakes.add(s);
                    Thread.ofVirtual().start(() -> behaviour.accept(s));
                } catch (IOException e) {
                    return;
                }
            }
        });
        return new PullSource(new TransferEndpoint(TransferKind.TCP, "", "127.0.0.1:" + ss.getLocalPort()),
                TestPools.SMALL, 0);
    }

    /** Reads and answers the HELLO like a real server with {@code layout} and 64 blocks. */
    private static void answerHello(Socket s, KvLayout layout) throws IOException {
        s.getInputStream().readNBytes(TcpFrame.HEADER_BYTES + TcpFrame.HELLO_BODY_BYTES);
        ByteBuffer ok = ByteBuffer.allocate(TcpFrame.HEADER_BYTES + TcpFrame.HELLO_OK_BODY_BYTES)
                .order(ByteOrder.LITTLE_ENDIAN);
        TcpFrame.putHeader(ok, TcpFrame.HELLO_OK, 0, TcpFrame.HELLO_OK_BODY_BYTES);
        TcpFrame.putLayout(ok, layout);
        ok.putInt(64);
        s.getOutputStream().write(ok.array());
    }

    @Test
    void pull_serverAcceptsButNeverAnswers_failsByDeadline() throws IOException {
        PullSource silent = fakeServer(s -> {
            try {
                s.getInputStream().readAllBytes(); // read forever, answer nothing
            } catch (IOException ignored) {
                // the puller gave up
            }
        });
        long start = System.nanoTime();
        TransferResult r = transport.pull(silent, new int[] {1, 2}, destination, new int[] {1, 2},
                Deadline.in(Duration.ofMillis(300)));
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.DEADLINE));
        assertThat(elapsedMs).isBetween(250L, 2_000L);
        assertThat(metrics.snapshot(TransferKind.TCP).failures()).containsEntry(TransferFailure.DEADLINE, 1L);
    }

    @Test
    void pull_serverStallsMidData_failsByDeadline() throws IOException {
        PullSource staller = fakeServer(s -> {
            try {
                answerHello(s, TestPools.SMALL);
                s.getInputStream().readNBytes(TcpFrame.READ_FRAME_BYTES);
                ByteBuffer h = ByteBuffer.allocate(TcpFrame.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                TcpFrame.putHeader(h, TcpFrame.DATA, 1, 2 * TestPools.SMALL.blockBytes());
                s.getOutputStream().write(h.array());
                s.getOutputStream().write(new byte[100]); // then nothing more
                s.getInputStream().readAllBytes();
            } catch (IOException ignored) {
                // the puller gave up
            }
        });
        TransferResult r = transport.pull(staller, new int[] {1, 2}, destination, new int[] {1, 2},
                Deadline.in(Duration.ofMillis(300)));
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.DEADLINE));
    }

    @Test
    void pull_serverDiesMidTransfer_peerFailedAndNotReportedFilled() throws IOException {
        PullSource dying = fakeServer(s -> {
            try {
                answerHello(s, TestPools.SMALL);
                s.getInputStream().readNBytes(TcpFrame.READ_FRAME_BYTES);
                ByteBuffer h = ByteBuffer.allocate(TcpFrame.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                TcpFrame.putHeader(h, TcpFrame.DATA, 1, 4 * TestPools.SMALL.blockBytes());
                OutputStream out = s.getOutputStream();
                out.write(h.array());
                out.write(new byte[(int) TestPools.SMALL.blockBytes() + 17]); // one block and a bit
                out.flush();
                s.close(); // dies mid-stream
            } catch (IOException ignored) {
                // closing anyway
            }
        });
        TransferResult r = transport.pull(dying, new int[] {0, 1, 2, 3}, destination, new int[] {0, 1, 2, 3}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class, f -> {
            assertThat(f.reason()).isEqualTo(TransferFailure.PEER_FAILED);
            assertThat(f.message()).contains("mid-transfer");
        });
        TransferMetrics.Snapshot s = metrics.snapshot(TransferKind.TCP);
        assertThat(s.blocks()).isZero();
        assertThat(s.pulls()).isZero();
        assertThat(s.failures()).containsEntry(TransferFailure.PEER_FAILED, 1L);
    }

    @Test
    void pull_realServerClosedMidStream_peerFailed() throws Exception {
        // a big pool and a slow reader: close the server while the DATA is in flight
        KvLayout big = new KvLayout(16, 22, 4, 64, dev.tandem.core.KvDtype.F16); // 360,448-byte blocks (TinyLlama-1.1B, F16)
        KvMemory bigSource = TestPools.anonymous(arena, big, 256);
        KvMemory bigDestination = TestPools.anonymous(arena, big, 256);
        TcpTransferServer server = serve(bigSource, ReadGuard.ALLOW_ALL);
        PullSource src = new PullSource(server.endpoint("127.0.0.1"), big, 0);
        int[] ids = new int[256];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i;
        }
        AtomicInteger served = new AtomicInteger();
        TransferListener closeAfterFirstRead = new TransferListener() {
            @Override
            public void onPull(TransferResult result) {
            }
        };
        // close the server from another thread as soon as the first bytes arrive at the destination
        Thread closer = Thread.ofVirtual().start(() -> {
            while (TestPools.isZero(bigDestination, 0) && served.get() == 0) {
                Thread.onSpinWait();
            }
            server.close();
        });
        try (TcpTransport slow = new TcpTransport(closeAfterFirstRead, new TcpTransport.Options(1, 1 << 20, 0, 1))) {
            TestPools.fillRandom(bigSource, 5);
            TransferResult r = slow.pull(src, ids, bigDestination, ids, soon());
            served.set(1);
            closer.join(5_000);
            // the server may have finished before the close on a fast machine; then all blocks are exact
            if (r instanceof TransferResult.Failed f) {
                assertThat(f.reason()).isEqualTo(TransferFailure.PEER_FAILED);
            } else {
                assertThat(TestPools.checksum(bigDestination, 255)).isEqualTo(TestPools.checksum(bigSource, 255));
            }
        }
    }

    @Test
    void pull_garbageAnswer_protocolFailureWithProtocolException() throws IOException {
        PullSource garbage = fakeServer(s -> {
            try {
                s.getInputStream().readNBytes(TcpFrame.HEADER_BYTES + TcpFrame.HELLO_BODY_BYTES);
                s.getOutputStream().write("HTTP/1.1 400 Bad Request\r\n\r\n".getBytes());
                s.getInputStream().readAllBytes();
            } catch (IOException ignored) {
                // the puller hung up
            }
        });
        TransferResult r = transport.pull(garbage, new int[] {1}, destination, new int[] {1}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class, f -> {
            assertThat(f.reason()).isEqualTo(TransferFailure.PROTOCOL);
            assertThat(f.cause()).isInstanceOf(ProtocolException.class).hasMessageContaining("bad frame magic");
        });
    }

    @Test
    void pull_dataForWrongRequest_protocolFailure() throws IOException {
        PullSource confused = fakeServer(s -> {
            try {
                answerHello(s, TestPools.SMALL);
                s.getInputStream().readNBytes(TcpFrame.READ_FRAME_BYTES);
                ByteBuffer h = ByteBuffer.allocate(TcpFrame.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                TcpFrame.putHeader(h, TcpFrame.DATA, 77, TestPools.SMALL.blockBytes());
                s.getOutputStream().write(h.array());
                s.getInputStream().readAllBytes();
            } catch (IOException ignored) {
                // the puller hung up
            }
        });
        TransferResult r = transport.pull(confused, new int[] {1}, destination, new int[] {1}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.PROTOCOL));
        assertThat(TestPools.isZero(destination, 1)).isTrue();
    }

    @Test
    void server_garbageFrame_answersProtocolErrorAndCloses() throws IOException {
        TransferEndpoint ep = pullSource.endpoint();
        try (Socket s = new Socket(ep.host(), ep.port())) {
            s.setSoTimeout(5_000);
            s.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes());
            InputStream in = s.getInputStream();
            byte[] header = in.readNBytes(TcpFrame.HEADER_BYTES);
            ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
            TcpFrame.Header decoded = TcpFrame.decodeHeader(h, false);
            assertThat(decoded.type()).isEqualTo(TcpFrame.ERROR);
            byte[] body = in.readNBytes((int) decoded.bodyBytes());
            assertThat(ByteBuffer.wrap(body).order(ByteOrder.LITTLE_ENDIAN).getShort(0)).isEqualTo(TcpFrame.ERR_PROTOCOL);
            assertThat(new String(body, 2, body.length - 2)).contains("bad frame magic");
            assertThat(in.read()).as("connection closed after the error").isEqualTo(-1);
        }
    }

    @Test
    void server_readBeforeHello_protocolError() throws IOException {
        TransferEndpoint ep = pullSource.endpoint();
        try (Socket s = new Socket(ep.host(), ep.port())) {
            s.setSoTimeout(5_000);
            ByteBuffer read = ByteBuffer.allocate(TcpFrame.READ_FRAME_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            TcpFrame.putHeader(read, TcpFrame.READ, 1, TcpFrame.READ_BODY_BYTES);
            read.putLong(0).putInt(0).putInt(1);
            s.getOutputStream().write(read.array());
            byte[] all = s.getInputStream().readAllBytes();
            TcpFrame.Header decoded = TcpFrame.decodeHeader(ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN), false);
            assertThat(decoded.type()).isEqualTo(TcpFrame.ERROR);
            assertThat(new String(all, TcpFrame.HEADER_BYTES + 2, all.length - TcpFrame.HEADER_BYTES - 2))
                    .contains("READ before HELLO");
            assertThat(all).hasSize(TcpFrame.HEADER_BYTES + (int) decoded.bodyBytes()); // no block bytes
        }
    }

    @Test
    void pull_advertisedLayoutWrong_noConnectionMade() throws IOException {
        AtomicInteger accepted = new AtomicInteger();
        PullSource counting = fakeServer(s -> accepted.incrementAndGet());
        PullSource wrong = new PullSource(counting.endpoint(), new KvLayout(4, 2, 2, 16, dev.tandem.core.KvDtype.F16), 0);
        TransferResult r = transport.pull(wrong, new int[] {1}, destination, new int[] {1}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.LAYOUT_MISMATCH));
        assertThat(accepted).hasValue(0);
    }

    @Test
    void pull_guardRefuses_rejectedAndNothingServed() {
        TcpTransferServer guarded = serve(source, (handle, first, count) -> handle == 42);
        PullSource wrongHandle = new PullSource(guarded.endpoint("127.0.0.1"), TestPools.SMALL, 41);
        TransferResult r = transport.pull(wrongHandle, new int[] {1, 2}, destination, new int[] {1, 2}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class, f -> {
            assertThat(f.reason()).isEqualTo(TransferFailure.REJECTED);
            assertThat(f.message()).contains("not pinned by handle 41");
        });
        assertThat(TestPools.isZero(destination, 1)).isTrue();
        PullSource rightHandle = new PullSource(guarded.endpoint("127.0.0.1"), TestPools.SMALL, 42);
        transport.pull(rightHandle, new int[] {1, 2}, destination, new int[] {1, 2}, soon()).orThrow();
        assertCopied(new int[] {1, 2}, new int[] {1, 2});
    }

    @Test
    void pull_nobodyListening_unreachable() throws IOException {
        int port;
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = ss.getLocalPort();
        }
        PullSource closed = new PullSource(new TransferEndpoint(TransferKind.TCP, "", "127.0.0.1:" + port),
                TestPools.SMALL, 0);
        TransferResult r = transport.pull(closed, new int[] {1}, destination, new int[] {1}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.UNREACHABLE));
    }

    @Test
    void pull_manyRunsBeyondWindow_pipelinedAndExact() {
        // 32 single-block runs with a window of 4: requests must be refilled as answers arrive
        try (TcpTransport narrow = new TcpTransport(metrics, new TcpTransport.Options(4, 1 << 20, 0, 1))) {
            int[] src = new int[32];
            int[] dst = new int[32];
            for (int i = 0; i < 32; i++) {
                src[i] = i * 2;
                dst[i] = 63 - i;
            }
            TransferResult.Done done = narrow.pull(pullSource, src, destination, dst, soon()).orThrow();
            assertThat(done.runs()).isEqualTo(32);
            assertCopied(src, dst);
        }
    }

    @Test
    void pull_runLargerThanRequestLimit_splitIntoSeveralReads() {
        int blockBytes = (int) TestPools.SMALL.blockBytes();
        try (TcpTransport small = new TcpTransport(metrics, new TcpTransport.Options(2, 3 * blockBytes, 0, 1))) {
            int[] ids = new int[10];
            for (int i = 0; i < 10; i++) {
                ids[i] = 20 + i;
            }
            TransferResult.Done done = small.pull(pullSource, ids, destination, ids, soon()).orThrow();
            assertThat(done.runs()).isEqualTo(4); // 3 + 3 + 3 + 1
            assertCopied(ids, ids);
        }
    }

    @Test
    void pull_afterServerRestart_staleConnectionReplaced() {
        transport.pull(pullSource, new int[] {1}, destination, new int[] {1}, soon()).orThrow();
        // the server drops its connections (idle close); the pooled connection is now dead
        int port = pullSource.endpoint().port();
        servers.forEach(TcpTransferServer::close);
        TcpTransferServer again = TcpTransferServer.start(source, new InetSocketAddress(InetAddress.getLoopbackAddress(), port),
                ReadGuard.ALLOW_ALL, metrics, TcpTransferServer.Options.DEFAULT);
        servers.add(again);
        transport.pull(pullSource, new int[] {5}, destination, new int[] {5}, soon()).orThrow();
        assertCopied(new int[] {5}, new int[] {5});
    }

    /**
     * close() returns only when no connection thread can touch the pool any more, so the pool's
     * owner may close its arena (which fails while a write from the pool's memory is in flight).
     * The guard holds a connection thread inside an answer until the test lets it go.
     */
    @Test
    void close_connectionThreadInsideAnswer_waitsForIt() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        TcpTransferServer server = serve(source, (handle, first, count) -> {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return true;
        });
        Thread puller = Thread.ofVirtual().start(() ->
                transport.pull(new PullSource(server.endpoint("127.0.0.1"), TestPools.SMALL, 0), new int[] {1},
                        destination, new int[] {1}, soon()));
        assertThat(entered.await(10, TimeUnit.SECONDS)).as("the READ reached the guard").isTrue();

        Thread closer = Thread.ofVirtual().start(server::close);

        assertThat(closer.join(Duration.ofMillis(300))).as("close() returned while a connection thread was busy")
                .isFalse();
        release.countDown();
        assertThat(closer.join(Duration.ofSeconds(10))).as("close() returned once the thread ended").isTrue();
        puller.join(Duration.ofSeconds(10));
    }
}
