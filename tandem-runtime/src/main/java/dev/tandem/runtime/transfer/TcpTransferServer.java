package dev.tandem.runtime.transfer;

import dev.tandem.core.KvLayout;
import dev.tandem.core.ProtocolException;
import dev.tandem.core.TandemException;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Serves one KV pool to {@link TcpTransport} pullers over the protocol in {@link TcpFrame}.
 *
 * <h2>Design</h2>
 * One virtual thread accepts; one virtual thread per connection reads a frame, answers it, and
 * reads the next. A DATA answer is one gathering write of the 16-byte header and a
 * {@link MemorySegment#asByteBuffer()} view of the requested blocks: the kernel copies straight
 * from the pool's memory into the socket, with no heap buffer in between. With
 * {@link Options#sendfile()} and a file-backed pool, the body goes out through
 * {@link FileChannel#transferTo} instead (sendfile from the page cache).
 *
 * <h2>Invariants</h2>
 * No block byte is written to a connection before its HELLO carried a layout equal to the pool's.
 * Every READ is checked against the pool's size and the {@link ReadGuard} before its DATA; a
 * refused READ gets an ERROR frame and the connection stays usable. A frame that does not decode
 * gets ERROR(protocol) and the connection is closed.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. Connection threads only read the pool; the serving engine keeps the
 * blocks named by a live handle unchanged (that is what the guard checks). Every blocking read
 * and write is bounded by a {@link Watchdog} timer (idle timeout between frames, write timeout
 * per answer), so a stuck puller costs one parked virtual thread for at most that long.
 * {@link #close()} closes the listening socket and every connection, then waits for the
 * connection threads to end, so that once it returns no thread reads the pool (its owner may
 * close the pool's arena, which fails while a write from the pool's memory is in flight).
 *
 * <h2>References</h2>
 * Aeron's framing (header with type and length, payload written from the mapped buffer);
 * Dynamo's NIXL target side (the prefill worker exposes registered memory, the decode worker reads).
 */
public final class TcpTransferServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(TcpTransferServer.class.getName());

    /**
     * Server settings.
     *
     * @param idleTimeout   a connection with no frame for this long is closed (default 120 s)
     * @param writeTimeout  one answer that takes longer to write closes the connection (default 30 s)
     * @param sendBufferBytes SO_SNDBUF for connections, or 0 for the kernel's autotuning (default 0)
     * @param sendfile      send file-backed pools with FileChannel.transferTo (default false)
     */
    public record Options(Duration idleTimeout, Duration writeTimeout, int sendBufferBytes, boolean sendfile) {
        public static final Options DEFAULT = new Options(Duration.ofSeconds(120), Duration.ofSeconds(30), 0, false);

        public Options {
            if (idleTimeout.isNegative() || idleTimeout.isZero() || writeTimeout.isNegative() || writeTimeout.isZero()) {
                throw new IllegalArgumentException("TCP transfer server timeouts must be positive: idle="
                        + idleTimeout + " write=" + writeTimeout);
            }
            if (sendBufferBytes < 0) {
                throw new IllegalArgumentException("sendBufferBytes=" + sendBufferBytes);
            }
        }
    }

    /** After a refusal, input discarded before closing: at most this many bytes (64 KiB)... */
    private static final long DRAIN_BYTES = 64 << 10;
    /** ...or for at most this long (1 s). */
    private static final long DRAIN_NANOS = 1_000_000_000L;

    private final KvMemory pool;
    private final ReadGuard guard;
    private final TransferListener listener;
    private final Options options;
    private final ServerSocketChannel server;
    private final FileChannel poolFile;
    private final Thread acceptor;
    // Open connections, so close() can end them; added and removed by their own threads.
    private final Set<SocketChannel> connections = ConcurrentHashMap.newKeySet();
    // Their threads, so close() can wait for them; added by the acceptor, removed by themselves.
    private final Set<Thread> connectionThreads = ConcurrentHashMap.newKeySet();
    private volatile boolean closed; // set by close(), read by the accept loop to tell a close from a failure

    private TcpTransferServer(KvMemory pool, ReadGuard guard, TransferListener listener, Options options,
                              ServerSocketChannel server, FileChannel poolFile) {
        this.pool = pool;
        this.guard = guard;
        this.listener = listener;
        this.options = options;
        this.server = server;
        this.poolFile = poolFile;
        this.acceptor = Thread.ofVirtual().name("tandem-kv-tcp-accept").unstarted(this::acceptLoop);
    }

    /** Binds {@code bind} (port 0 picks a free port) and starts serving {@code pool}. */
    public static TcpTransferServer start(KvMemory pool, InetSocketAddress bind, ReadGuard guard,
                                          TransferListener listener, Options options) {
        ServerSocketChannel server = null;
        FileChannel file = null;
        try {
            server = ServerSocketChannel.open();
            server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            server.bind(bind, 128);
            if (options.sendfile() && pool.backingFile() != null) {
                file = FileChannel.open(pool.backingFile(), StandardOpenOption.READ);
            }
            TcpTransferServer s = new TcpTransferServer(pool, guard, listener, options, server, file);
            s.acceptor.start();
            LOG.log(System.Logger.Level.DEBUG, "KV transfer server on " + s.address() + " serving "
                    + pool.blockCount() + " blocks (" + pool.layout().describe() + ")");
            return s;
        } catch (IOException e) {
            closeQuietly(server);
            closeQuietly(file);
            throw new TandemException("cannot start the KV transfer server on " + bind + ": " + e.getMessage(), e);
        }
    }

    /** The bound address (with the real port). */
    public InetSocketAddress address() {
        try {
            return (InetSocketAddress) server.getLocalAddress();
        } catch (IOException e) {
            throw new TandemException("KV transfer server socket is closed", e);
        }
    }

    /** The endpoint to advertise, reachable at {@code advertiseHost} and the bound port. */
    public TransferEndpoint endpoint(String advertiseHost) {
        String host = advertiseHost.contains(":") ? "[" + advertiseHost + "]" : advertiseHost;
        return new TransferEndpoint(TransferKind.TCP, "", host + ":" + address().getPort());
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                SocketChannel ch = server.accept();
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                if (options.sendBufferBytes() > 0) {
                    ch.setOption(StandardSocketOptions.SO_SNDBUF, options.sendBufferBytes());
                }
                connections.add(ch);
                if (closed) {
                    closeQuietly(ch);
                    break;
                }
                Thread t = Thread.ofVirtual().name("tandem-kv-tcp-conn").unstarted(() -> serve(ch));
                connectionThreads.add(t);
                t.start();
            } catch (ClosedChannelException e) {
                break;
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.WARNING, "KV transfer server accept failed: " + e.getMessage());
                }
            }
        }
    }

    /** Answers frames on one connection until the puller closes it or it misbehaves. */
    private void serve(SocketChannel ch) {
        String peer = peerName(ch);
        ByteBuffer in = TcpFrame.allocate(TcpFrame.HEADER_BYTES + TcpFrame.MAX_CONTROL_BODY_BYTES);
        ByteBuffer out = TcpFrame.allocate(TcpFrame.HEADER_BYTES + TcpFrame.MAX_CONTROL_BODY_BYTES);
        boolean greeted = false;
        try {
            while (true) {
                in.clear().limit(TcpFrame.HEADER_BYTES);
                if (!readTimed(ch, in, options.idleTimeout().toNanos(), true)) {
                    return; // puller closed between frames
                }
                in.flip();
                TcpFrame.Header h;
                try {
                    h = TcpFrame.decodeHeader(in, true);
                    if (h.type() == TcpFrame.READ && !greeted) {
                        throw new ProtocolException("READ before HELLO");
                    }
                    if (h.type() == TcpFrame.HELLO && greeted) {
                        throw new ProtocolException("second HELLO on one connection");
                    }
                } catch (ProtocolException e) {
                    refuse(ch, out, 0, TcpFrame.ERR_PROTOCOL, e.getMessage());
                    LOG.log(System.Logger.Level.WARNING, "[peer=" + peer + "] KV transfer protocol error: " + e.getMessage());
                    return;
                }
                in.clear().limit((int) h.bodyBytes());
                readTimed(ch, in, options.idleTimeout().toNanos(), false);
                in.flip();
                if (h.type() == TcpFrame.HELLO) {
                    KvLayout theirs;
                    try {
                        theirs = TcpFrame.getLayout(in);
                    } catch (ProtocolException e) {
                        refuse(ch, out, h.requestId(), TcpFrame.ERR_PROTOCOL, e.getMessage());
                        return;
                    }
                    String mismatch = PullPlan.layoutMismatch(pool.layout(), theirs);
                    if (mismatch != null) {
                        refuse(ch, out, h.requestId(), TcpFrame.ERR_LAYOUT_MISMATCH, mismatch);
                        return;
                    }
                    out.clear();
                    TcpFrame.putHeader(out, TcpFrame.HELLO_OK, h.requestId(), TcpFrame.HELLO_OK_BODY_BYTES);
                    TcpFrame.putLayout(out, pool.layout());
                    out.putInt(pool.blockCount()).flip();
                    writeTimed(ch, new ByteBuffer[] {out});
                    greeted = true;
                } else {
                    answerRead(ch, out, h.requestId(), in);
                }
            }
        } catch (IOException e) {
            if (!closed && LOG.isLoggable(System.Logger.Level.DEBUG)) {
                LOG.log(System.Logger.Level.DEBUG, "[peer=" + peer + "] KV transfer connection ended: " + e);
            }
        } finally {
            connections.remove(ch);
            closeQuietly(ch);
            connectionThreads.remove(Thread.currentThread());
        }
    }

    private void answerRead(SocketChannel ch, ByteBuffer out, int requestId, ByteBuffer body) throws IOException {
        long handleId = body.getLong(TcpFrame.READ_HANDLE_OFFSET);
        int first = body.getInt(TcpFrame.READ_FIRST_BLOCK_OFFSET);
        int count = body.getInt(TcpFrame.READ_BLOCK_COUNT_OFFSET);
        ServedRange.Refusal refusal = ServedRange.check(pool, guard, handleId, first, count);
        if (refusal != null) {
            refuseAndContinue(ch, out, requestId, refusal.code(), refusal.message());
            return;
        }
        long bytes = count * pool.blockBytes();
        if (bytes > Integer.MAX_VALUE) {
            refuseAndContinue(ch, out, requestId, TcpFrame.ERR_OUT_OF_RANGE, "blocks " + first + "+" + count
                    + " are over 2 GiB in one READ");
            return;
        }
        out.clear();
        TcpFrame.putHeader(out, TcpFrame.DATA, requestId, bytes);
        out.flip();
        long offset = first * pool.blockBytes();
        if (poolFile != null) {
            writeTimed(ch, new ByteBuffer[] {out});
            sendfileTimed(ch, offset, bytes);
        } else {
            writeTimed(ch, new ByteBuffer[] {out, pool.memory().asSlice(offset, bytes).asByteBuffer()});
        }
        TransferListener.served(listener, TransferKind.TCP, bytes, count);
    }

    private void refuseAndContinue(SocketChannel ch, ByteBuffer out, int requestId, short code, String message)
            throws IOException {
        out.clear();
        TcpFrame.putError(out, requestId, code, message);
        out.flip();
        writeTimed(ch, new ByteBuffer[] {out});
    }

    /**
     * Best effort: tell the puller why, then half-close and discard what it still sends (up to
     * {@link #DRAIN_BYTES} or {@link #DRAIN_NANOS}), so that the kernel does not answer unread
     * input with a reset that would destroy the error frame. The caller then closes.
     */
    private void refuse(SocketChannel ch, ByteBuffer out, int requestId, short code, String message) {
        try {
            refuseAndContinue(ch, out, requestId, code, message);
            ch.shutdownOutput();
            Watchdog.Timer timer = Watchdog.arm(ch, DRAIN_NANOS);
            try {
                long drained = 0;
                int n;
                while (drained < DRAIN_BYTES && (n = ch.read(out.clear())) >= 0) {
                    drained += n;
                }
            } finally {
                timer.disarm();
            }
        } catch (IOException ignored) {
            // the connection is being dropped anyway
        }
    }

    /**
     * Fills {@code buf} within {@code timeoutNanos}; returns false on a clean end of stream before
     * the first byte when {@code eofOk}.
     */
    private static boolean readTimed(SocketChannel ch, ByteBuffer buf, long timeoutNanos, boolean eofOk)
            throws IOException {
        Watchdog.Timer timer = Watchdog.arm(ch, timeoutNanos);
        try {
            boolean first = true;
            while (buf.hasRemaining()) {
                if (ch.read(buf) < 0) {
                    if (eofOk && first && buf.position() == 0) {
                        return false;
                    }
                    throw new EOFException("connection closed inside a frame");
                }
                first = false;
            }
            return true;
        } finally {
            timer.disarm();
        }
    }

    private void writeTimed(SocketChannel ch, ByteBuffer[] bufs) throws IOException {
        Watchdog.Timer timer = Watchdog.arm(ch, options.writeTimeout().toNanos());
        try {
            ByteBuffer last = bufs[bufs.length - 1];
            while (last.hasRemaining()) {
                ch.write(bufs);
            }
        } finally {
            timer.disarm();
        }
    }

    private void sendfileTimed(SocketChannel ch, long offset, long bytes) throws IOException {
        Watchdog.Timer timer = Watchdog.arm(ch, options.writeTimeout().toNanos());
        try {
            long done = 0;
            while (done < bytes) {
                done += poolFile.transferTo(offset + done, bytes - done, ch);
            }
        } finally {
            timer.disarm();
        }
    }

    private static String peerName(SocketChannel ch) {
        try {
            return String.valueOf(ch.getRemoteAddress());
        } catch (IOException e) {
            return "?";
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // nothing left to release
            }
        }
    }

    /** Stops accepting, closes every connection (pulls in progress fail as PEER_FAILED), waits for the acceptor. */
    @Override
    public void close() {
        closed = true;
        closeQuietly(server);
        for (SocketChannel ch : connections) {
            closeQuietly(ch);
        }
        try {
            acceptor.join(Duration.ofSeconds(5));
            // Closed channels fail any blocked read or write at once, so these threads end promptly.
            for (Thread t : connectionThreads) {
                t.join(Duration.ofSeconds(5));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        closeQuietly(poolFile);
    }
}
