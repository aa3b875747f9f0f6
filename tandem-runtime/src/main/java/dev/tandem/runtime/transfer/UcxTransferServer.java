package dev.tandem.runtime.transfer;

import dev.tandem.core.TandemException;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.openucx.jucx.UcxCallback;
import org.openucx.jucx.ucp.UcpConnectionRequest;
import org.openucx.jucx.ucp.UcpContext;
import org.openucx.jucx.ucp.UcpEndpoint;
import org.openucx.jucx.ucp.UcpEndpointParams;
import org.openucx.jucx.ucp.UcpListener;
import org.openucx.jucx.ucp.UcpListenerParams;
import org.openucx.jucx.ucp.UcpMemMapParams;
import org.openucx.jucx.ucp.UcpMemory;
import org.openucx.jucx.ucp.UcpRequest;
import org.openucx.jucx.ucp.UcpWorker;
import org.openucx.jucx.ucp.UcpWorkerParams;

/**
 * Serves one KV pool to {@link UcxTransport} pullers: registers the pool with UCX for remote
 * reads, tells each new connection the pool's layout, address and remote key (META), and
 * grants or refuses each pull's blocks (AUTH/REPLY, see {@link UcxFrame}). The block bytes then
 * move by one-sided GETs that this process's CPU does not touch (on RDMA hardware; over UCX's
 * shared-memory and TCP transports, UCX's own progress does the copy).
 *
 * <h2>Design</h2>
 * One platform thread owns the UCX worker (UCX workers are single-threaded): it progresses the
 * worker, accepts connection requests queued by the listener callback, answers AUTH messages,
 * and sleeps in {@code waitForEvents} when idle; {@link #close()} wakes it with {@code signal}.
 *
 * <h2>Invariants</h2>
 * The remote key covers exactly the pool, so a GET outside it fails in UCX. AUTH is refused
 * (and nothing is granted) for blocks outside the pool or not pinned by the handle.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use: the only cross-thread state is the connection-request queue and the
 * closed flag; everything UCX happens on the worker thread.
 *
 * <h2>References</h2>
 * NIXL's UCX backend (register, exchange metadata, remote reads); UCX's ucp_client_server example.
 */
public final class UcxTransferServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(UcxTransferServer.class.getName());

    private final KvMemory pool;
    private final ReadGuard guard;
    private final TransferListener listener;
    private final UcpContext context;
    private final UcpWorker worker;
    private final UcpMemory registered;
    private final ByteBuffer rkey;
    private final UcpListener ucpListener;
    private final Thread thread;
    // Filled by the listener callback (on the worker thread, during progress), drained by the loop.
    private final Queue<UcpConnectionRequest> pending = new ConcurrentLinkedQueue<>();
    private final Map<Long, UcpEndpoint> endpoints = new ConcurrentHashMap<>();
    private final AtomicLong nextConnId = new AtomicLong(1);
    private final ByteBuffer authBuffer = ByteBuffer.allocateDirect(UcxFrame.MAX_MESSAGE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private UcpRequest authRecv; // worker thread only
    private volatile boolean closed; // set by close(), read by the worker loop

    private UcxTransferServer(KvMemory pool, InetSocketAddress bind, ReadGuard guard, TransferListener listener) {
        this.pool = pool;
        this.guard = guard;
        this.listener = listener;
        this.context = UcxSupport.newContext(true);
        this.worker = context.newWorker(new UcpWorkerParams().requestWakeupTagRecv().requestWakeupTagSend()
                .requestWakeupRMA());
        this.registered = context.memoryMap(new UcpMemMapParams().setAddress(pool.memory().address())
                .setLength(pool.blockBytes() * pool.blockCount()));
        this.rkey = registered.getRemoteKeyBuffer();
        this.ucpListener = worker.newListener(new UcpListenerParams().setSockAddr(bind).setConnectionHandler(pending::add));
        this.thread = Thread.ofPlatform().daemon().name("tandem-kv-ucx-server").unstarted(this::loop);
    }

    /** Starts serving {@code pool} on {@code bind} (port 0 picks a free port). */
    public static UcxTransferServer start(KvMemory pool, InetSocketAddress bind, ReadGuard guard, TransferListener listener) {
        if (!UcxSupport.available()) {
            throw new TandemException(UcxSupport.unavailableReason());
        }
        try {
            UcxTransferServer s = new UcxTransferServer(pool, bind, guard, listener);
            s.postAuthRecv();
            s.thread.start();
            return s;
        } catch (RuntimeException e) {
            throw new TandemException("cannot start the UCX KV transfer server on " + bind + ": " + e.getMessage(), e);
        }
    }

    /** The listening address (with the real port). */
    public InetSocketAddress address() {
        return ucpListener.getAddress();
    }

    /** The endpoint to advertise, reachable at {@code advertiseHost} and the listening port. */
    public TransferEndpoint endpoint(String advertiseHost) {
        String host = advertiseHost.contains(":") ? "[" + advertiseHost + "]" : advertiseHost;
        return new TransferEndpoint(TransferKind.UCX, "", host + ":" + address().getPort());
    }

    private void postAuthRecv() {
        authBuffer.clear();
        authRecv = worker.recvTaggedNonBlocking(authBuffer, UcxFrame.TAG_AUTH, UcxFrame.TAG_MASK_ALL, null);
    }

    private void loop() {
        try {
            while (!closed) {
                while (worker.progress() != 0) {
                    // drain every ready event before looking at the queues
                }
                UcpConnectionRequest req;
                while ((req = pending.poll()) != null) {
                    accept(req);
                }
                if (authRecv.isCompleted()) {
                    answerAuth(authRecv);
                    postAuthRecv();
                    continue;
                }
                if (!closed) {
                    worker.waitForEvents();
                }
            }
        } catch (Exception e) {
            if (!closed) {
                LOG.log(System.Logger.Level.ERROR, "UCX KV transfer server stopped: " + e, e);
            }
        } finally {
            for (UcpEndpoint ep : endpoints.values()) {
                ep.closeNonBlockingForce();
            }
            ucpListener.close();
            registered.deregister();
            worker.close();
            context.close();
        }
    }

    private void accept(UcpConnectionRequest req) {
        long connId = nextConnId.getAndIncrement();
        UcpEndpoint ep = worker.newEndpoint(new UcpEndpointParams().setConnectionRequest(req).setPeerErrorHandlingMode()
                .setErrorHandler((e, status, message) -> endpoints.remove(connId)));
        endpoints.put(connId, ep);
        ByteBuffer meta = ByteBuffer.allocateDirect(UcxFrame.META_RKEY_OFFSET + rkey.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        meta.putLong(connId);
        TcpFrame.putLayout(meta, pool.layout());
        meta.putInt(pool.blockCount()).putLong(pool.memory().address()).putInt(rkey.remaining()).put(rkey.duplicate()).flip();
        ep.sendTaggedNonBlocking(meta, UcxFrame.TAG_META, new KeepAlive(meta));
    }

    private void answerAuth(UcpRequest done) {
        int length = (int) done.getRecvSize();
        ByteBuffer b = authBuffer;
        if (length < UcxFrame.AUTH_RUNS_OFFSET) {
            LOG.log(System.Logger.Level.WARNING, "UCX AUTH of " + length + " bytes ignored");
            return;
        }
        long connId = b.getLong(UcxFrame.AUTH_CONN_OFFSET);
        long seq = b.getLong(UcxFrame.AUTH_SEQ_OFFSET);
        long handleId = b.getLong(UcxFrame.AUTH_HANDLE_OFFSET);
        int runs = b.getInt(UcxFrame.AUTH_RUN_COUNT_OFFSET);
        UcpEndpoint ep = endpoints.get(connId);
        if (ep == null) {
            LOG.log(System.Logger.Level.WARNING, "UCX AUTH for unknown connection " + connId + " ignored");
            return;
        }
        short code = 0;
        String message = "";
        long bytes = 0;
        int blocks = 0;
        if (runs <= 0 || UcxFrame.AUTH_RUNS_OFFSET + (long) runs * UcxFrame.AUTH_RUN_BYTES > length) {
            code = TcpFrame.ERR_PROTOCOL;
            message = "AUTH with " + runs + " runs in " + length + " bytes";
        }
        for (int i = 0; code == 0 && i < runs; i++) {
            int first = b.getInt(UcxFrame.AUTH_RUNS_OFFSET + i * UcxFrame.AUTH_RUN_BYTES);
            int count = b.getInt(UcxFrame.AUTH_RUNS_OFFSET + i * UcxFrame.AUTH_RUN_BYTES + Integer.BYTES);
            ServedRange.Refusal refusal = ServedRange.check(pool, guard, handleId, first, count);
            if (refusal != null) {
                code = refusal.code();
                message = refusal.message();
            } else {
                blocks += count;
                bytes += count * pool.blockBytes();
            }
        }
        byte[] text = message.getBytes(StandardCharsets.UTF_8);
        ByteBuffer reply = ByteBuffer.allocateDirect(UcxFrame.REPLY_MESSAGE_OFFSET + text.length).order(ByteOrder.LITTLE_ENDIAN);
        reply.putLong(seq).putShort(code).put(text).flip();
        ep.sendTaggedNonBlocking(reply, UcxFrame.TAG_REPLY, new KeepAlive(reply));
        if (code == 0) {
            TransferListener.served(listener, TransferKind.UCX, bytes, blocks);
        }
    }

    /** Keeps a send buffer reachable until UCX is done with it. */
    private static final class KeepAlive extends UcxCallback {
        @SuppressWarnings("unused")
        private final ByteBuffer buffer;

        KeepAlive(ByteBuffer buffer) {
            this.buffer = buffer;
        }
    }

    /** Stops the worker thread, closes every connection and deregisters the pool. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        worker.signal();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
