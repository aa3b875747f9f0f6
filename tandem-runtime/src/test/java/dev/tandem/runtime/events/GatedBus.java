package dev.tandem.runtime.events;

import java.util.concurrent.CountDownLatch;

/**
 * An {@link EventBus} over an {@link EmbeddedEventBus} that can be switched "down" (publish
 * refuses, as NATS does while disconnected) or made to block publishers: a stand-in for the
 * network in publisher tests.
 */
final class GatedBus implements EventBus {
    final EmbeddedEventBus inner = new EmbeddedEventBus(1 << 16);
    volatile boolean up = true;
    volatile CountDownLatch block = new CountDownLatch(0);

    @Override
    public boolean publish(String subject, byte[] payload) {
        try {
            block.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
        return up && inner.publish(subject, payload);
    }

    @Override
    public EventSubscription subscribe(String subjectPattern, EventHandler handler) {
        return inner.subscribe(subjectPattern, handler);
    }

    @Override
    public boolean isConnected() {
        return up;
    }

    @Override
    public void close() {
        inner.close();
    }
}
