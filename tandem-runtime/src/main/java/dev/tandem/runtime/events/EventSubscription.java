package dev.tandem.runtime.events;

/** An active subscription; closing it stops delivery. Safe for concurrent use. */
public interface EventSubscription extends AutoCloseable {
    @Override
    void close();
}
