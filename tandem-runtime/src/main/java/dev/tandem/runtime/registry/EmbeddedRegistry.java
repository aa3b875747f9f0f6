package dev.tandem.runtime.registry;

import dev.tandem.core.WorkerRecord;
import dev.tandem.runtime.RuntimeConfig;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A {@link Registry} session on an in-memory {@link EmbeddedRegistryStore}: the registry of a
 * one-process deployment ({@code tandem serve}), and a stand-in for etcd in tests.
 *
 * <p>Its leases are kept alive while the session is open; closing the session without closing
 * the registrations lets them expire on the store's clock, as a crashed process's would in etcd.
 *
 * <p>Safe for concurrent use.
 */
public final class EmbeddedRegistry implements Registry {
    private final EmbeddedRegistryStore store;
    private final String namespace;
    private final Duration defaultTtl;
    private final long sessionId;
    private final List<WatchState> watches = new CopyOnWriteArrayList<>();

    public EmbeddedRegistry(EmbeddedRegistryStore store, RuntimeConfig config) {
        this.store = store;
        this.namespace = config.namespace();
        this.defaultTtl = config.leaseTtl();
        this.sessionId = store.openSession();
    }

    @Override
    public String namespace() {
        return namespace;
    }

    @Override
    public Registration register(WorkerRecord record) {
        return register(record, defaultTtl);
    }

    @Override
    public Registration register(WorkerRecord record, Duration ttl) {
        if (ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("lease TTL must be positive, got " + ttl);
        }
        String key = RegistryKeys.instanceKey(namespace, record);
        long leaseId = store.register(sessionId, key, record, EmbeddedRegistryStore.toNanos(ttl));
        return new Registration() {
            @Override
            public String key() {
                return key;
            }

            @Override
            public WorkerRecord record() {
                return record;
            }

            @Override
            public void close() {
                store.revoke(leaseId);
            }
        };
    }

    @Override
    public RegistryWatch watch(String prefix, RegistryListener listener) {
        WatchState w = store.watch(prefix, listener);
        watches.add(w);
        return w;
    }

    @Override
    public void close() {
        store.closeSession(sessionId);
        for (WatchState w : watches) {
            w.close();
        }
        watches.clear();
    }
}
