package dev.tandem.runtime.registry;

import dev.tandem.core.WorkerRecord;

/** What a {@link RegistryWatch} reports. */
public sealed interface RegistryEvent permits RegistryEvent.Added, RegistryEvent.Removed, RegistryEvent.Synced {

    /** A record appeared, or the record under an existing key changed (the new one replaces it). */
    record Added(String key, WorkerRecord record) implements RegistryEvent {
    }

    /** The record under {@code key} is gone (deregistered, lease expired, or deleted). */
    record Removed(String key, WorkerRecord record) implements RegistryEvent {
    }

    /** The initial set has been delivered: {@code instanceCount} records are present. Sent once. */
    record Synced(int instanceCount) implements RegistryEvent {
    }
}
