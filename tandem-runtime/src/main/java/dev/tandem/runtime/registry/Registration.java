package dev.tandem.runtime.registry;

import dev.tandem.core.WorkerRecord;

/** A record registered under a lease. Safe for concurrent use. */
public interface Registration extends AutoCloseable {

    /** The full registry key, {@code tandem/v1/instances/{ns}/{component}/{id}}. */
    String key();

    WorkerRecord record();

    /** Revokes the lease: the record disappears for every watcher now. Idempotent. */
    @Override
    void close();
}
