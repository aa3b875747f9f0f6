package dev.tandem.runtime.registry;

/**
 * Receives a watch's events, serially and in order, on a runtime thread (never an I/O thread).
 * An exception thrown here is logged and the watch continues.
 */
@FunctionalInterface
public interface RegistryListener {
    void onEvent(RegistryEvent event);
}
