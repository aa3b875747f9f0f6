package dev.tandem.runtime.transfer;

import dev.tandem.core.ProtocolException;
import dev.tandem.core.TandemException;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.ReentrantLock;
import org.openucx.jucx.ucp.UcpContext;
import org.openucx.jucx.ucp.UcpEndpoint;
import org.openucx.jucx.ucp.UcpEndpointParams;
import org.openucx.jucx.ucp.UcpMemMapParams;
import org.openucx.jucx.ucp.UcpMemory;
import org.openucx.jucx.ucp.UcpRemoteKey;
import org.openucx.jucx.ucp.UcpRequest;
import org.openucx.jucx.ucp.UcpWorker;
import org.openucx.jucx.ucp.UcpWorkerParams;

/**
 * {@link TransferKind#UCX}: pulls blocks from a {@link UcxTransferServer} with one-sided UCX
 * GETs, one per coalesced run, straight into the destination blocks (registered with UCX once
 * per pool).
 *
 * <h2>Design</h2>
 * A connection (per server address) starts with the server's META: its pool's layout, size,
 * base address and remote key. Each pull then: checks the layout (before any byte moves), sends
 * AUTH with the handle and runs and waits for a grant, issues every GET at once, and progresses
 * the worker until all complete. {@link UcxSupport} decides whether the library is present.
 *
 * <h2>Invariants</h2>
 * No GET is issued before the server's real layout equals the destination's and the server
 * granted the runs. A pull that fails by deadline or peer error force-closes the connection and
 * progresses until UCX has cancelled the outstanding GETs, so nothing lands in the destination
 * after the failure is returned.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use, serially: UCX workers are single-threaded, so pulls take a lock and
 * run one at a time on the caller's thread (which busy-progresses the worker while its GETs are
 * in flight; the deadline is checked on every turn).
 *
 * <h2>References</h2>
 * NIXL's UCX backend; jucx's UcxReadBWBenchmarkReceiver (GET from a remote key).
 */
public final class UcxTransport implements KvTransport {
    /** How long a failed pull keeps progressing to let UCX cancel its GETs (1 s). */
    private static final long CANCEL_NANOS = 1_000_000_000L;

    private final TransferListener listener;
    private final ReentrantLock lock = new ReentrantLock();
    private UcpContext context; // guarded by lock; created on first pull
    private UcpWorker worker; // guarded by lock
    private final Map<String, Peer> peers = new HashMap<>(); // guarded by lock
    private final Map<Long, UcpMemory> registrations = new HashMap<>(); // guarded by lock, by pool address
    private long nextSeq = 1; // guarded by lock
    private boolean closed; // guarded by lock

    private static final class Peer {
        final UcpEndpoint endpoint;
        final UcxFrame.Meta meta;
        final UcpRemoteKey rkey;
        // Set by the endpoint's error handler (during progress, under the transport's lock).
        final AtomicReference<String> error;

        Peer(UcpEndpoint endpoint, UcxFrame.Meta meta, UcpRemoteKey rkey, AtomicReference<String> error) {
            this.endpoint = endpoint;
            this.meta = meta;
            this.rkey = rkey;
            this.error = error;
        }
    }

    /** Why a pull stopped early. */
    private static final class PullFailure extends Exception {
        final TransferFailure reason;

        PullFailure(TransferFailure reason, String message) {
            super(message, null, false, false);
            this.reason = reason;
        }
    }

    public UcxTransport(TransferListener listener) {
        if (!UcxSupport.available()) {
            throw new TandemException(UcxSupport.unavailableReason());
        }
        this.listener = listener;
    }

    @Override
    public TransferKind kind() {
        return TransferKind.UCX;
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
        if (ep.kind() != TransferKind.UCX) {
            return fail(TransferFailure.UNREACHABLE, ep + " is not a UCX endpoint");
        }
        lock.lock();
        try {
            if (closed) {
                return fail(TransferFailure.UNREACHABLE, "the UCX transport is closed");
            }
            ensureWorker();
            Peer peer = null;
            try {
                peer = peer(ep, deadline);
                String mismatch = PullPlan.layoutMismatch(peer.meta.layout(), destination.layout());
                if (mismatch != null) {
                    return fail(TransferFailure.LAYOUT_MISMATCH, "UCX pool at " + ep.address() + ": " + mismatch);
                }
                authorize(peer, source.handleId(), plan.runs(), deadline);
                read(peer, plan.runs(), destination, deadline);
            } catch (PullFailure f) {
                if (peer != null) {
                    drop(ep.address(), peer);
                }
                return fail(f.reason, f.getMessage());
            }
            return TransferListener.report(listener, new TransferResult.Done(kind(), plan.bytes(), plan.blocks(),
                    plan.runs().size(), System.nanoTime() - startNanos));
        } finally {
            lock.unlock();
        }
    }

    private void ensureWorker() {
        if (worker == null) {
            context = UcxSupport.newContext(false);
            worker = context.newWorker(new UcpWorkerParams());
        }
    }

    private Peer peer(TransferEndpoint ep, Deadline deadline) throws PullFailure {
        Peer peer = peers.get(ep.address());
        if (peer != null && peer.error.get() == null) {
            return peer;
        }
        if (peer != null) {
            drop(ep.address(), peer);
        }
        AtomicReference<String> error = new AtomicReference<>();
        UcpEndpoint endpoint;
        try {
            endpoint = worker.newEndpoint(new UcpEndpointParams()
                    .setSocketAddress(new InetSocketAddress(ep.host(), ep.port())).setPeerErrorHandlingMode()
                    .setErrorHandler((e, status, message) -> error.set("status " + status + ": " + message)));
        } catch (RuntimeException e) {
            throw new PullFailure(TransferFailure.UNREACHABLE, "cannot connect to UCX server " + ep.address() + ": " + e);
        }
        ByteBuffer metaBuffer = ByteBuffer.allocateDirect(UcxFrame.MAX_MESSAGE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        UcpRequest recv = worker.recvTaggedNonBlocking(metaBuffer, UcxFrame.TAG_META, UcxFrame.TAG_MASK_ALL, null);
        try {
            await(List.of(recv), deadline, error::get, "the server's META from " + ep.address());
        } catch (PullFailure f) {
            worker.cancelRequest(recv);
            closeEndpoint(endpoint);
            throw f.reason == TransferFailure.PEER_FAILED
                    ? new PullFailure(TransferFailure.UNREACHABLE, f.getMessage()) : f;
        }
        UcxFrame.Meta meta;
        try {
            meta = UcxFrame.decodeMeta(metaBuffer, (int) recv.getRecvSize());
        } catch (ProtocolException e) {
            closeEndpoint(endpoint);
            throw new PullFailure(TransferFailure.PROTOCOL, "UCX server " + ep.address() + ": " + e.getMessage());
        }
        Peer fresh = new Peer(endpoint, meta, endpoint.unpackRemoteKey(meta.rkey()), error);
        peers.put(ep.address(), fresh);
        return fresh;
    }

    private void authorize(Peer peer, long handleId, List<BlockRun> runs, Deadline deadline) throws PullFailure {
        int bytes = UcxFrame.AUTH_RUNS_OFFSET + runs.size() * UcxFrame.AUTH_RUN_BYTES;
        if (bytes > UcxFrame.MAX_MESSAGE_BYTES) {
            throw new PullFailure(TransferFailure.INVALID_REQUEST, runs.size() + " runs do not fit one UCX AUTH message");
        }
        long seq = nextSeq++;
        ByteBuffer auth = ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
        auth.putLong(peer.meta.connId()).putLong(seq).putLong(handleId).putInt(runs.size()).putInt(0);
        for (BlockRun r : runs) {
            auth.putInt(r.sourceFirst()).putInt(r.blockCount());
        }
        auth.flip();
        ByteBuffer reply = ByteBuffer.allocateDirect(UcxFrame.MAX_MESSAGE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        UcpRequest recv = worker.recvTaggedNonBlocking(reply, UcxFrame.TAG_REPLY, UcxFrame.TAG_MASK_ALL, null);
        UcpRequest send = peer.endpoint.sendTaggedNonBlocking(auth, UcxFrame.TAG_AUTH, null);
        try {
            await(List.of(send, recv), deadline, peer.error::get, "the grant for " + runs.size() + " runs");
        } catch (PullFailure f) {
            worker.cancelRequest(recv);
            throw f;
        }
        int length = (int) recv.getRecvSize();
        if (length < UcxFrame.REPLY_MESSAGE_OFFSET || reply.getLong(UcxFrame.REPLY_SEQ_OFFSET) != seq) {
            throw new PullFailure(TransferFailure.PROTOCOL, "bad UCX REPLY (" + length + " bytes) for request " + seq);
        }
        short code = reply.getShort(UcxFrame.REPLY_CODE_OFFSET);
        if (code != 0) {
            byte[] text = new byte[length - UcxFrame.REPLY_MESSAGE_OFFSET];
            reply.get(UcxFrame.REPLY_MESSAGE_OFFSET, text);
            throw new PullFailure(code == TcpFrame.ERR_PROTOCOL ? TransferFailure.PROTOCOL : TransferFailure.REJECTED,
                    "UCX server refused: " + new String(text, StandardCharsets.UTF_8));
        }
    }

    private void read(Peer peer, List<BlockRun> runs, KvMemory destination, Deadline deadline) throws PullFailure {
        register(destination);
        long blockBytes = destination.blockBytes();
        long localBase = destination.memory().address();
        List<UcpRequest> gets = new ArrayList<>(runs.size());
        for (BlockRun r : runs) {
            gets.add(peer.endpoint.getNonBlocking(peer.meta.baseAddress() + r.sourceFirst() * blockBytes, peer.rkey,
                    localBase + r.destinationFirst() * blockBytes, r.blockCount() * blockBytes, null));
        }
        await(gets, deadline, peer.error::get, runs.size() + " GETs");
    }

    private void register(KvMemory destination) {
        long address = destination.memory().address();
        UcpMemory existing = registrations.get(address);
        long bytes = destination.blockBytes() * destination.blockCount();
        if (existing == null || existing.getLength() < bytes) {
            if (existing != null) {
                existing.deregister();
            }
            registrations.put(address, context.memoryMap(new UcpMemMapParams().setAddress(address).setLength(bytes)));
        }
    }

    /** Progresses until every request completed; fails on a request error, a peer error or the deadline. */
    private void await(List<UcpRequest> requests, Deadline deadline, java.util.function.Supplier<String> peerError,
                       String what) throws PullFailure {
        while (true) {
            try {
                worker.progress();
            } catch (Exception e) {
                throw new PullFailure(TransferFailure.PEER_FAILED, "UCX progress failed waiting for " + what + ": " + e);
            }
            boolean all = true;
            for (UcpRequest r : requests) {
                if (!r.isCompleted()) {
                    all = false;
                } else if (r.getStatus() != 0) {
                    throw new PullFailure(TransferFailure.PEER_FAILED, "UCX request for " + what + " failed with status "
                            + r.getStatus());
                }
            }
            if (all) {
                return;
            }
            String error = peerError.get();
            if (error != null) {
                throw new PullFailure(TransferFailure.PEER_FAILED, "UCX peer failed while waiting for " + what + " (" + error + ")");
            }
            if (deadline.expired()) {
                throw new PullFailure(TransferFailure.DEADLINE, "deadline passed waiting for " + what);
            }
        }
    }

    /** Force-closes the connection and progresses until UCX has finished with its requests. */
    private void drop(String address, Peer peer) {
        peers.remove(address, peer);
        peer.rkey.close();
        closeEndpoint(peer.endpoint);
    }

    private void closeEndpoint(UcpEndpoint endpoint) {
        UcpRequest close = endpoint.closeNonBlockingForce();
        long until = System.nanoTime() + CANCEL_NANOS;
        while (close != null && !close.isCompleted() && System.nanoTime() < until) {
            try {
                worker.progress();
            } catch (Exception e) {
                return;
            }
        }
    }

    private TransferResult fail(TransferFailure reason, String message) {
        return TransferListener.report(listener, new TransferResult.Failed(kind(), reason, message, null));
    }

    /** Closes every connection, deregisters destination pools and frees the UCX worker. */
    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            for (Map.Entry<String, Peer> e : new ArrayList<>(peers.entrySet())) {
                drop(e.getKey(), e.getValue());
            }
            registrations.values().forEach(UcpMemory::deregister);
            registrations.clear();
            if (worker != null) {
                worker.close();
                context.close();
            }
        } finally {
            lock.unlock();
        }
    }
}
