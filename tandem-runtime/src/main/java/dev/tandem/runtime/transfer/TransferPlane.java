package dev.tandem.runtime.transfer;

import dev.tandem.core.KvHandle;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A worker's transfer plane: serves its pool through every enabled transport and pulls from
 * peers through the best one the pair shares. This is the API the worker uses; the transports
 * underneath can also be used alone.
 *
 * <h2>Design</h2>
 * {@link #serve} exposes one pool: registers it with the JVM's {@link LocalPools}, advertises
 * its /dev/shm file if it has one, starts a {@link TcpTransferServer} (and a UCX listener when
 * UCX is enabled and loadable); the returned endpoints go into the worker's registry record and
 * into every {@link KvHandle}. {@link #pull} checks the handle's expiry, picks an endpoint with
 * {@link TransportSelector} and delegates.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use after {@link #serve}; serve and close are called by the worker's
 * lifecycle thread.
 */
public final class TransferPlane implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(TransferPlane.class.getName());

    private final TransferConfig config;
    private final LocalPools localPools;
    private final TransferListener listener;
    private final Map<TransferKind, KvTransport> transports = new EnumMap<>(TransferKind.class);
    private final TransportSelector.Self self;
    private final List<AutoCloseable> servers = new ArrayList<>();
    private final List<String> localNames = new ArrayList<>();
    private final List<KvMemory> published = new ArrayList<>();

    public TransferPlane(TransferConfig config, LocalPools localPools, TransferListener listener) {
        this.config = config;
        this.localPools = localPools;
        this.listener = listener;
        Set<TransferKind> supported = EnumSet.noneOf(TransferKind.class);
        for (TransferKind kind : config.kinds()) {
            KvTransport t = switch (kind) {
                case LOCAL -> new LocalTransport(localPools, listener);
                case SHM -> new ShmTransport(config.hostId(), listener);
                case TCP -> new TcpTransport(listener, TcpTransport.Options.DEFAULT);
                case UCX -> UcxSupport.available() ? new UcxTransport(listener) : null;
                case NIXL -> throw new IllegalStateException("nixl is refused by TransferConfig");
            };
            if (t != null) {
                transports.put(kind, t);
                supported.add(kind);
            } else {
                LOG.log(System.Logger.Level.WARNING, "UCX transfer is enabled but unavailable, pulls will not use it: "
                        + UcxSupport.unavailableReason());
            }
        }
        this.self = new TransportSelector.Self(localPools.scopeId(), config.hostId(), supported);
    }

    /** The transports this side can pull with. */
    public Set<TransferKind> supported() {
        return self.supported();
    }

    /** Exposes {@code pool} as {@code name} and returns its endpoints, best first. */
    public synchronized List<TransferEndpoint> serve(String name, KvMemory pool, ReadGuard guard) {
        List<TransferEndpoint> endpoints = new ArrayList<>();
        for (TransferKind kind : TransportSelector.PREFERENCE) {
            if (!transports.containsKey(kind)) {
                continue;
            }
            switch (kind) {
                case LOCAL -> {
                    endpoints.add(localPools.expose(name, pool));
                    localNames.add(name);
                }
                case SHM -> {
                    TransferEndpoint ep = ShmTransport.publish(pool, config.hostId());
                    if (ep != null) {
                        endpoints.add(ep);
                        published.add(pool);
                    }
                }
                case UCX -> {
                    UcxTransferServer s = UcxTransferServer.start(pool,
                            new InetSocketAddress(config.bindHost(), config.ucxPort()), guard, listener);
                    servers.add(s);
                    endpoints.add(s.endpoint(config.advertiseHost()));
                }
                case TCP -> {
                    TcpTransferServer s = TcpTransferServer.start(pool,
                            new InetSocketAddress(config.bindHost(), config.tcpPort()), guard, listener,
                            TcpTransferServer.Options.DEFAULT);
                    servers.add(s);
                    endpoints.add(s.endpoint(config.advertiseHost()));
                }
                case NIXL -> throw new IllegalStateException("nixl is not in the transport preference");
            }
        }
        return List.copyOf(endpoints);
    }

    /** The endpoint of {@code handle} that {@link #pull} would use. */
    public Optional<TransferEndpoint> choose(List<TransferEndpoint> endpoints) {
        return TransportSelector.choose(self, endpoints);
    }

    /**
     * Pulls {@code sourceBlocks} of {@code handle}'s pool into {@code destinationBlocks} of
     * {@code destination} by {@code deadline}.
     */
    public TransferResult pull(KvHandle handle, int[] sourceBlocks, KvMemory destination, int[] destinationBlocks,
                               Deadline deadline) {
        Optional<TransferEndpoint> ep = choose(handle.endpoints());
        if (ep.isEmpty()) {
            return TransferListener.report(listener, new TransferResult.Failed(TransferKind.TCP,
                    TransferFailure.UNREACHABLE, "no transport shared with worker " + handle.workerId() + " (it offers "
                    + handle.endpoints() + ", this side supports " + self.supported() + ")", null));
        }
        TransferKind kind = ep.get().kind();
        if (handle.expired(System.currentTimeMillis())) {
            return TransferListener.report(listener, new TransferResult.Failed(kind, TransferFailure.EXPIRED,
                    "handle " + handle.handleId() + " of worker " + handle.workerId() + " expired at "
                    + handle.expiresAtEpochMs(), null));
        }
        return transports.get(kind).pull(PullSource.of(handle, ep.get()), sourceBlocks, destination,
                destinationBlocks, deadline);
    }

    /** Stops the servers, withdraws the local pools and closes the transports. */
    @Override
    public synchronized void close() {
        for (AutoCloseable s : servers) {
            try {
                s.close();
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "closing a KV transfer server failed: " + e);
            }
        }
        servers.clear();
        for (String name : localNames) {
            localPools.withdraw(name);
        }
        localNames.clear();
        for (KvMemory pool : published) {
            ShmTransport.unpublish(pool);
        }
        published.clear();
        for (KvTransport t : transports.values()) {
            t.close();
        }
    }

}
