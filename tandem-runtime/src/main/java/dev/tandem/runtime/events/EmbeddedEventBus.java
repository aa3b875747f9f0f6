package dev.tandem.runtime.events;

import dev.tandem.runtime.SerialDispatcher;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import static java.lang.System.Logger.Level.WARNING;

/**
 * An in-process {@link EventBus} for a one-process deployment. Each subscription has its own
 * serial dispatcher with a bounded queue: a handler that falls {@code queueCapacity} messages
 * behind loses the newest ones (counted in {@link #droppedMessages()}), like a NATS slow consumer,
 * and never slows the publisher.
 *
 * <p>Safe for concurrent use.
 */
public final class EmbeddedEventBus implements EventBus {
    private static final System.Logger LOG = System.getLogger(EmbeddedEventBus.class.getName());

    private final int queueCapacity;
    private final CopyOnWriteArrayList<Sub> subscriptions = new CopyOnWriteArrayList<>();
    /** Messages refused by full subscription queues; incremented by publishers on any thread. */
    private final AtomicLong dropped = new AtomicLong();
    /** Set once by close(); read by publishers. */
    private volatile boolean closed;

    private final class Sub implements EventSubscription {
        final String pattern;
        final EventHandler handler;
        final SerialDispatcher dispatcher;

        Sub(String pattern, EventHandler handler) {
            this.pattern = pattern;
            this.handler = handler;
            this.dispatcher = new SerialDispatcher("tandem-events-" + pattern, queueCapacity);
        }

        @Override
        public void close() {
            subscriptions.remove(this);
            dispatcher.close();
        }
    }

    /** @param queueCapacity messages a subscription may fall behind before dropping, > 0 */
    public EmbeddedEventBus(int queueCapacity) {
        this.queueCapacity = queueCapacity;
    }

    @Override
    public boolean publish(String subject, byte[] payload) {
        Subjects.checkLiteral(subject);
        if (closed) {
            return false;
        }
        for (Sub sub : subscriptions) {
            if (Subjects.matches(sub.pattern, subject)) {
                byte[] copy = payload.clone();
                if (!sub.dispatcher.submit(() -> sub.handler.onMessage(subject, copy))
                        && dropped.getAndIncrement() % 10_000 == 0) {
                    LOG.log(WARNING, "subscriber of {0} is {1} messages behind; dropping", sub.pattern, queueCapacity);
                }
            }
        }
        return true;
    }

    @Override
    public EventSubscription subscribe(String subjectPattern, EventHandler handler) {
        Subjects.checkPattern(subjectPattern);
        if (closed) {
            throw new IllegalStateException("event bus is closed");
        }
        Sub sub = new Sub(subjectPattern, handler);
        subscriptions.add(sub);
        return sub;
    }

    @Override
    public boolean isConnected() {
        return !closed;
    }

    /** Messages dropped because a subscriber fell too far behind. */
    public long droppedMessages() {
        return dropped.get();
    }

    @Override
    public void close() {
        closed = true;
        for (Sub sub : subscriptions) {
            sub.close();
        }
    }
}
