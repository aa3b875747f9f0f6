package dev.tandem.runtime.events;

/** Receives the messages of one subscription. */
@FunctionalInterface
public interface EventHandler {
    void onMessage(String subject, byte[] payload);
}
