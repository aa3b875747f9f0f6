package dev.tandem.runtime.events;

/**
 * The event plane: fire-and-forget messages on subjects, from workers to routers.
 *
 * <p>Subjects are dot-separated tokens ({@link Subjects}); a subscription pattern may use NATS
 * wildcards, {@code *} for one token and {@code >} (last) for one or more. Delivery is at most
 * once: a message published while the bus is disconnected is dropped, not buffered, and
 * {@link #publish} says so, so that the publisher's numbering shows the gap and consumers resync.
 *
 * <p>Two implementations: {@link EmbeddedEventBus} (one process) and {@link NatsEventBus}.
 *
 * <p>Safe for concurrent use.
 */
public interface EventBus extends AutoCloseable {

    /**
     * Publishes without waiting for delivery.
     *
     * @return true if the message was handed to the bus; false if it was dropped (disconnected,
     *         closed, or larger than the bus accepts): the caller counts a drop and carries on
     */
    boolean publish(String subject, byte[] payload);

    /**
     * Subscribes to a subject or wildcard pattern. The handler runs serially, in publication
     * order per publisher, on a bus thread (never the publisher's); it must not block for long.
     * An exception it throws is logged and the subscription continues.
     */
    EventSubscription subscribe(String subjectPattern, EventHandler handler);

    /** True while messages can be published. */
    boolean isConnected();

    /** Closes every subscription and the connection. Idempotent. */
    @Override
    void close();
}
