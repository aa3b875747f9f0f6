package dev.tandem.runtime.transfer;

import dev.tandem.core.KvLayout;
import dev.tandem.core.ProtocolException;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.io.EOFException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.NoRouteToHostException;
import java.net.StandardSocketOptions;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedByInterruptException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link TransferKind#TCP}: pulls blocks from a {@link TcpTransferServer} over the framed
 * protocol in {@link TcpFrame}, reading each DATA body straight into the destination blocks.
 *
 * <h2>Design</h2>
 * A pull coalesces its ids into runs, splits runs larger than {@link Options#maxRequestBytes()},
 * and pipelines them on one connection: up to {@link Options#window()} READ frames are in
 * flight, written in one batch; each DATA header is checked against the oldest outstanding
 * READ, then its body is read into a {@link java.lang.foreign.MemorySegment#asByteBuffer()} view
 * of the destination run, so the kernel copies from the socket into the pool with no heap
 * buffer in between. Connections (after their HELLO) are kept per server address and layout and
 * reused by later pulls; a reused connection that turns out dead before any answer arrived is
 * replaced once.
 *
 * <h2>Invariants</h2>
 * The destination layout is compared with the advertised one before connecting, and the server
 * compares it with its pool's before sending any block byte. A DATA frame is accepted only with
 * the expected request id and exactly the expected length. A connection that saw any failure is
 * closed, never reused.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use: a pull owns its connection exclusively (taken from, then given back
 * to, a per-key idle queue under that queue's lock). The deadline is enforced by a
 * {@link Watchdog} that closes the connection when it passes, which unblocks any read, write or
 * connect at once; so a silent or dead server fails the pull by the deadline (plus the
 * watchdog's scheduling delay).
 *
 * <h2>References</h2>
 * Aeron (framed, pipelined transfer from memory); Dynamo's NIXL read path (the decode worker
 * pulls into pre-registered blocks).
 */
public final class TcpTransport implements KvTransport {
    /**
     * Client settings.
     *
     * @param window            READs in flight per connection (default 16, 1..1024)
     * @param maxRequestBytes   bytes asked for by one READ; longer runs are split (default 8 MiB)
     * @param receiveBufferBytes SO_RCVBUF, or 0 for the kernel's autotuning (default 0)
     * @param maxIdlePerPeer    idle connections kept per server and layout (default 4)
     */
    public record Options(int window, int maxRequestBytes, int receiveBufferBytes, int maxIdlePerPeer) {
        public static final Options DEFAULT = new Options(16, 8 << 20, 0, 4);

        public Options {
            if (window < 1 || window > 1024) {
                throw new IllegalArgumentException("TCP transfer window must be 1..1024, got " + window);
            }
            if (maxRequestBytes < 1 || receiveBufferBytes < 0 || maxIdlePerPeer < 0) {
                throw new IllegalArgumentException("bad TCP transfer options: maxRequestBytes=" + maxRequestBytes
                        + " receiveBufferBytes=" + receiveBufferBytes + " maxIdlePerPeer=" + maxIdlePerPeer);
            }
        }
    }

    private record PeerKey(String address, KvLayout layout) {
    }

    /** An open, greeted connection; owned by one pull at a time. */
    private static final class Connection {
        final SocketChannel channel;
        final ByteBuffer header = TcpFrame.allocate(TcpFrame.HEADER_BYTES + TcpFrame.MAX_CONTROL_BODY_BYTES);
        final ByteBuffer requests;
        int nextRequestId;
        int answersThisPull;

        Connection(SocketChannel channel, int window) {
            this.channel = channel;
            this.requests = TcpFrame.allocate(window * TcpFrame.READ_FRAME_BYTES);
        }
    }

    /** An ERROR frame from the server. */
    private static final class RemoteError extends Exception {
        final short code;

        RemoteError(short code, String message) {
            super(message, null, false, false);
            this.code = code;
        }
    }

    private final TransferListener listener;
    private final Options options;
    private final Map<PeerKey, ArrayDeque<Connection>> idle = new ConcurrentHashMap<>();
    private volatile boolean closed; // set by close(); pulls check it before taking a connection

    public TcpTransport(TransferListener listener, Options options) {
        this.listener = listener;
        this.options = options;
    }

    @Override
    public TransferKind kind() {
        return TransferKind.TCP;
    }

    @Override
    public TransferResult pull(PullSource source, int[] sourceBlocks, KvMemory destination, int[] destinationBlocks,
                               Deadline deadline) {
        long startNanos = System.nanoTime();
        PullPlan plan = PullPlan.prepare(kind(), source, sourceBlocks, Integer.MAX_VALUE, destination,
                destinationBlocks, deadline);
        if (plan.failure() != null) {
            return TransferListener.report(listener, plan.failure());
        }
        TransferEndpoint ep = source.endpoint();
        if (ep.kind() != TransferKind.TCP || closed) {
            return fail(TransferFailure.UNREACHABLE, ep + " is not a TCP endpoint or the transport is closed", null);
        }
        int maxBlocks = (int) Math.max(1, options.maxRequestBytes() / destination.blockBytes());
        List<BlockRun> runs = BlockRuns.split(plan.runs(), maxBlocks);
        PeerKey key = new PeerKey(ep.address(), destination.layout());
        Connection pooled = takeIdle(key);
        TransferResult result = attempt(source, key, pooled, runs, destination, deadline);
        if (pooled != null && result instanceof TransferResult.Failed f && f.reason() == TransferFailure.PEER_FAILED
                && f.cause() instanceof StaleConnection && !deadline.expired()) {
            result = attempt(source, key, null, runs, destination, deadline);
        }
        if (result instanceof TransferResult.Done) {
            result = new TransferResult.Done(kind(), plan.bytes(), plan.blocks(), runs.size(),
                    System.nanoTime() - startNanos);
        }
        return TransferListener.report(listener, result);
    }

    /** A pooled connection failed before its first answer: it was dead before this pull. */
    private static final class StaleConnection extends IOException {
        StaleConnection(IOException cause) {
            super("idle connection was closed by the server: " + cause.getMessage(), cause);
        }
    }

    private TransferResult attempt(PullSource source, PeerKey key, Connection conn, List<BlockRun> runs,
                                   KvMemory destination, Deadline deadline) {
        TransferEndpoint ep = source.endpoint();
        SocketChannel ch = conn != null ? conn.channel : null;
        Watchdog.Timer timer = null;
        boolean reused = conn != null;
        boolean connected = reused;
        try {
            if (ch == null) {
                ch = SocketChannel.open();
            }
            timer = Watchdog.arm(ch, deadline.remainingNanos());
            if (conn == null) {
                conn = connect(ch, ep, destination);
                connected = true;
            }
            pipeline(conn, source.handleId(), runs, destination);
            if (!timer.disarm()) {
                throw new IOException("deadline passed at the end of the transfer");
            }
            giveBack(key, conn);
            return new TransferResult.Done(kind(), 0, 0, 0, 0);
        } catch (RemoteError e) {
            closeQuietly(ch);
            TransferFailure reason = switch (e.code) {
                case TcpFrame.ERR_LAYOUT_MISMATCH -> TransferFailure.LAYOUT_MISMATCH;
                case TcpFrame.ERR_PROTOCOL -> TransferFailure.PROTOCOL;
                default -> TransferFailure.REJECTED;
            };
            return failed(reason, "server " + ep.address() + " refused: " + e.getMessage(), null);
        } catch (ProtocolException e) {
            closeQuietly(ch);
            return failed(TransferFailure.PROTOCOL, "server " + ep.address() + " sent a bad frame: " + e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            closeQuietly(ch);
            if (e instanceof ClosedByInterruptException) {
                Thread.currentThread().interrupt();
            }
            if (timer != null && timer.fired()) {
                return failed(TransferFailure.DEADLINE, "no complete answer from " + ep.address() + " within the deadline ("
                        + (connected ? "connected" : "while connecting") + ")", e);
            }
            if (!connected) {
                boolean unreachable = e instanceof ConnectException || e instanceof NoRouteToHostException
                        || e instanceof UnknownHostException || e instanceof java.nio.channels.UnresolvedAddressException;
                return failed(unreachable ? TransferFailure.UNREACHABLE : TransferFailure.PEER_FAILED,
                        "cannot connect to " + ep.address() + ": " + e, e);
            }
            if (reused && conn.answersThisPull == 0 && e instanceof IOException io) {
                return failed(TransferFailure.PEER_FAILED, "connection to " + ep.address() + " was stale",
                        new StaleConnection(io));
            }
            return failed(TransferFailure.PEER_FAILED, "connection to " + ep.address() + " failed mid-transfer: " + e, e);
        }
    }

    private Connection connect(SocketChannel ch, TransferEndpoint ep, KvMemory destination)
            throws IOException, RemoteError {
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        if (options.receiveBufferBytes() > 0) {
            ch.setOption(StandardSocketOptions.SO_RCVBUF, options.receiveBufferBytes());
        }
        ch.connect(new InetSocketAddress(ep.host(), ep.port()));
        Connection conn = new Connection(ch, options.window());
        ByteBuffer hello = conn.requests;
        hello.clear();
        TcpFrame.putHeader(hello, TcpFrame.HELLO, conn.nextRequestId++, TcpFrame.HELLO_BODY_BYTES);
        TcpFrame.putLayout(hello, destination.layout());
        hello.flip();
        writeFully(ch, hello);
        TcpFrame.Header h = readHeader(conn);
        if (h.type() == TcpFrame.ERROR) {
            throw remoteError(readBody(conn, h), h);
        }
        if (h.type() != TcpFrame.HELLO_OK) {
            throw new ProtocolException("expected HELLO_OK, got frame type " + h.type());
        }
        ByteBuffer body = readBody(conn, h);
        KvLayout theirs = TcpFrame.getLayout(body);
        String mismatch = PullPlan.layoutMismatch(theirs, destination.layout());
        if (mismatch != null) {
            throw new ProtocolException("server accepted a HELLO with another layout: " + mismatch);
        }
        return conn;
    }

    /** Sends the READs with up to {@code window} in flight and reads every DATA into place. */
    private void pipeline(Connection conn, long handleId, List<BlockRun> runs, KvMemory destination)
            throws IOException, RemoteError {
        int firstRequestId = conn.nextRequestId;
        conn.answersThisPull = 0;
        int sent = 0;
        int received = 0;
        int n = runs.size();
        long blockBytes = destination.blockBytes();
        while (received < n) {
            if (sent < n && sent - received < options.window()) {
                ByteBuffer req = conn.requests;
                req.clear();
                while (sent < n && sent - received < options.window()) {
                    BlockRun r = runs.get(sent);
                    TcpFrame.putHeader(req, TcpFrame.READ, firstRequestId + sent, TcpFrame.READ_BODY_BYTES);
                    req.putLong(handleId).putInt(r.sourceFirst()).putInt(r.blockCount());
                    sent++;
                }
                req.flip();
                writeFully(conn.channel, req);
                conn.nextRequestId = firstRequestId + sent;
            }
            BlockRun r = runs.get(received);
            TcpFrame.Header h = readHeader(conn);
            conn.answersThisPull++;
            int expectedId = firstRequestId + received;
            if (h.type() == TcpFrame.ERROR) {
                throw remoteError(readBody(conn, h), h);
            }
            if (h.type() != TcpFrame.DATA) {
                throw new ProtocolException("expected DATA for request " + expectedId + ", got frame type " + h.type());
            }
            long expectedBytes = r.blockCount() * blockBytes;
            if (h.requestId() != expectedId || h.bodyBytes() != expectedBytes) {
                throw new ProtocolException("DATA for request " + h.requestId() + " with " + h.bodyBytes()
                        + " bytes, expected request " + expectedId + " with " + expectedBytes + " bytes");
            }
            ByteBuffer into = destination.blocks(r.destinationFirst(), r.blockCount()).asByteBuffer();
            readFully(conn.channel, into);
            received++;
        }
    }

    private static RemoteError remoteError(ByteBuffer body, TcpFrame.Header h) {
        short code = body.getShort(TcpFrame.ERROR_CODE_OFFSET);
        byte[] text = new byte[(int) h.bodyBytes() - TcpFrame.ERROR_MESSAGE_OFFSET];
        body.get(TcpFrame.ERROR_MESSAGE_OFFSET, text);
        return new RemoteError(code, new String(text, StandardCharsets.UTF_8));
    }

    private static TcpFrame.Header readHeader(Connection conn) throws IOException {
        ByteBuffer buf = conn.header;
        buf.clear().limit(TcpFrame.HEADER_BYTES);
        readFully(conn.channel, buf);
        buf.flip();
        return TcpFrame.decodeHeader(buf, false);
    }

    private static ByteBuffer readBody(Connection conn, TcpFrame.Header h) throws IOException {
        if (h.bodyBytes() > TcpFrame.MAX_CONTROL_BODY_BYTES) {
            throw new ProtocolException("control frame body of " + h.bodyBytes() + " bytes");
        }
        ByteBuffer buf = conn.header;
        buf.clear().limit((int) h.bodyBytes());
        readFully(conn.channel, buf);
        buf.flip();
        return buf;
    }

    private static void readFully(SocketChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            if (ch.read(buf) < 0) {
                throw new EOFException("server closed the connection with " + buf.remaining() + " bytes of a frame missing");
            }
        }
    }

    private static void writeFully(SocketChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    private Connection takeIdle(PeerKey key) {
        ArrayDeque<Connection> q = idle.get(key);
        if (q == null) {
            return null;
        }
        synchronized (q) {
            return q.pollFirst();
        }
    }

    private void giveBack(PeerKey key, Connection conn) {
        ArrayDeque<Connection> q = idle.computeIfAbsent(key, k -> new ArrayDeque<>());
        synchronized (q) {
            if (!closed && q.size() < options.maxIdlePerPeer()) {
                q.addFirst(conn);
                return;
            }
        }
        closeQuietly(conn.channel);
    }

    private TransferResult.Failed failed(TransferFailure reason, String message, Throwable cause) {
        return new TransferResult.Failed(kind(), reason, message, cause);
    }

    private TransferResult fail(TransferFailure reason, String message, Throwable cause) {
        return TransferListener.report(listener, failed(reason, message, cause));
    }

    private static void closeQuietly(SocketChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // nothing left to release
            }
        }
    }

    /** Closes every idle connection; pulls in progress finish or fail on their own. */
    @Override
    public void close() {
        closed = true;
        for (ArrayDeque<Connection> q : idle.values()) {
            synchronized (q) {
                for (Connection c : q) {
                    closeQuietly(c.channel);
                }
                q.clear();
            }
        }
    }
}
