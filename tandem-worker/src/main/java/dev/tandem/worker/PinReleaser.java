package dev.tandem.worker;

import dev.tandem.core.KvHandle;
import dev.tandem.core.TandemException;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.rpc.PrefillService;
import dev.tandem.runtime.rpc.RemoteEngine;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.System.Logger.Level.INFO;

/**
 * Tells a prefill worker that a decode worker is done with a {@link KvHandle}: in-process when
 * the prefill worker lives in this JVM (found by worker id), otherwise one Release call over the
 * request plane to the address the decode request carried (one cached client per address).
 *
 * <p>A handle whose blocks an external engine moves itself ({@link KvHandle#movedByEngines()},
 * vLLM's NixlConnector) is never released here: that engine frees them when the decode engine
 * has read them, or after its own timeout.
 *
 * <p>A release that fails (the prefill worker died, the network is cut) is logged and dropped:
 * the pin expires by itself after its TTL. Safe for concurrent use.
 */
public final class PinReleaser implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(PinReleaser.class.getName());

    private final RuntimeConfig runtime;
    private final Map<String, PrefillService> local = new ConcurrentHashMap<>();
    private final Map<String, RemoteEngine> clients = new ConcurrentHashMap<>();
    /** Set by close(); later releases are dropped (their pins expire). */
    private volatile boolean closed;

    /** @param runtime deadlines of remote Release calls ({@code rpcCallTimeoutMs}) */
    public PinReleaser(RuntimeConfig runtime) {
        this.runtime = runtime;
    }

    /** Makes an in-process prefill worker's pins releasable without the network. */
    public void registerLocal(String workerId, PrefillService prefill) {
        local.put(workerId, prefill);
    }

    public void unregisterLocal(String workerId) {
        local.remove(workerId);
    }

    /**
     * Releases {@code handle} on its worker; blocks for at most the call deadline.
     *
     * @param address the prefill worker's request-plane address, used when it is not in this JVM
     * @return true if the worker released a pin it still held
     */
    public boolean release(KvHandle handle, String address) {
        if (closed || handle.movedByEngines()) {
            return false; // an external engine frees its blocks itself (after the pull, or its own timeout)
        }
        try {
            PrefillService p = local.get(handle.workerId());
            if (p != null) {
                return p.release(handle.handleId());
            }
            if (address == null || address.isBlank()) {
                LOG.log(INFO, "[worker={0}] handle {1}: no address to release it at; it expires by itself",
                        handle.workerId(), handle.handleId());
                return false;
            }
            return clients.computeIfAbsent(address, a -> RemoteEngine.connect(a, runtime)).release(handle.handleId());
        } catch (TandemException | IllegalStateException e) {
            LOG.log(INFO, "[worker={0}] releasing handle {1} failed ({2}); it expires by itself", handle.workerId(),
                    handle.handleId(), e.getMessage());
            return false;
        }
    }

    @Override
    public void close() {
        closed = true;
        for (RemoteEngine c : clients.values()) {
            c.close();
        }
        clients.clear();
    }
}
