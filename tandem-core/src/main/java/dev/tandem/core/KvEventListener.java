package dev.tandem.core;

/**
 * Receives a worker's KV events in order. Called from the engine's scheduler thread; must not
 * block (hand off to a queue).
 */
@FunctionalInterface
public interface KvEventListener {
    void onKvEvent(KvEvent event);
}
