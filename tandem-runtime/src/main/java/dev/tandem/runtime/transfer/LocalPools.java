package dev.tandem.runtime.transfer;

import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The pools of one JVM that {@link LocalTransport} can copy from, by name. A
 * {@link TransferKind#LOCAL} endpoint is meaningful only to pullers that share this object: its
 * scope id is this object's random id, so two JVMs (or two independent hubs in one JVM, as in
 * tests) never mistake each other's pools for their own.
 *
 * <p>Safe for concurrent use.
 */
public final class LocalPools {
    private static final LocalPools SHARED = new LocalPools();

    private final String scopeId = "jvm-" + UUID.randomUUID();
    private final Map<String, KvMemory> pools = new ConcurrentHashMap<>();

    /** The hub for the whole JVM. */
    public static LocalPools shared() {
        return SHARED;
    }

    /** The id that LOCAL endpoints of this hub carry. */
    public String scopeId() {
        return scopeId;
    }

    /**
     * Makes {@code pool} reachable as {@code name} and returns the endpoint to advertise.
     *
     * @throws IllegalStateException if another pool already has that name
     */
    public TransferEndpoint expose(String name, KvMemory pool) {
        KvMemory previous = pools.putIfAbsent(name, pool);
        if (previous != null && previous != pool) {
            throw new IllegalStateException("a KV pool named '" + name + "' is already exposed in this JVM");
        }
        return new TransferEndpoint(TransferKind.LOCAL, scopeId, name);
    }

    /** Stops serving {@code name}; later pulls from it fail as unreachable. */
    public void withdraw(String name) {
        pools.remove(name);
    }

    /** The pool behind {@code endpoint}, or null if the endpoint is not one of this hub's. */
    KvMemory find(TransferEndpoint endpoint) {
        if (endpoint.kind() != TransferKind.LOCAL || !endpoint.scopeId().equals(scopeId)) {
            return null;
        }
        return pools.get(endpoint.address());
    }
}
