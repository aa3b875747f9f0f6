package dev.tandem.runtime.registry;

import dev.tandem.core.WorkerRecord;
import java.time.Duration;

/**
 * Where workers announce themselves and frontends find them.
 *
 * <p>A worker {@link #register registers} one {@link WorkerRecord} under a lease that the
 * registry keeps alive in the background; closing the returned {@link Registration} removes the
 * record at once. If the process dies (or {@link #close} is called without closing the
 * registrations), the keep-alive stops and the record disappears when the lease runs out: within
 * the TTL. A frontend {@link #watch watches} a key prefix and receives the current records, then
 * every addition and removal.
 *
 * <p>Two implementations: {@link EmbeddedRegistry} (one process, in memory) and
 * {@link EtcdRegistry} (many processes, etcd). Keys follow {@link RegistryKeys}.
 *
 * <p>Safe for concurrent use.
 */
public interface Registry extends AutoCloseable {

    /** The namespace this registry registers into. */
    String namespace();

    /** Registers under a lease with the configured TTL (default 10 s). */
    Registration register(WorkerRecord record);

    /**
     * Registers under a lease with the given TTL, kept alive in the background until the handle
     * is closed. Registering the same instance id twice replaces the record.
     *
     * @throws dev.tandem.core.TandemException if the registry cannot be reached within its deadline
     */
    Registration register(WorkerRecord record, Duration ttl);

    /**
     * Watches every record under {@code prefix}. The listener first receives an
     * {@link RegistryEvent.Added} per current record and one {@link RegistryEvent.Synced}, then
     * additions and removals as they happen; calls are serial and in order, on a runtime thread.
     * After a lost connection the watch resynchronises by itself and reports only the difference.
     *
     * @throws dev.tandem.core.TandemException if the initial read fails within the deadline
     */
    RegistryWatch watch(String prefix, RegistryListener listener);

    /** Watches every worker of this registry's namespace. */
    default RegistryWatch watchInstances(RegistryListener listener) {
        return watch(RegistryKeys.instancesPrefix(namespace()), listener);
    }

    /**
     * Stops every keep-alive and watch and releases the connection. Registrations still open are
     * NOT revoked: they lapse when their lease runs out, exactly as after a crash. Close each
     * {@link Registration} first for a prompt, graceful deregistration. Idempotent.
     */
    @Override
    void close();
}
