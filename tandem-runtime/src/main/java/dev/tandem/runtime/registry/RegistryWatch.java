package dev.tandem.runtime.registry;

/** An active watch; closing it stops the events. Safe for concurrent use. */
public interface RegistryWatch extends AutoCloseable {
    @Override
    void close();
}
