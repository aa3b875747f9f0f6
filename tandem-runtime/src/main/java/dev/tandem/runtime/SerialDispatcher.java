package dev.tandem.runtime;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs submitted tasks one at a time, in submission order, on short-lived virtual threads: the
 * way the runtime calls user listeners (registry watches, event subscriptions) so that a slow or
 * throwing listener never runs on, or blocks, an I/O thread or the engine thread.
 *
 * <h2>Design</h2>
 * The classic queue-drain loop: a submitter that finds no drain scheduled starts one; the drain
 * runs tasks until the queue is empty, then unschedules itself and re-checks once so that a task
 * added in between is not stranded. At most {@code capacity} tasks wait; beyond that
 * {@link #submit} refuses (the caller counts a drop), like a NATS slow consumer.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. Tasks never overlap, and each task happens-before the next.
 */
public final class SerialDispatcher implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(SerialDispatcher.class.getName());

    private final String name;
    private final int capacity;
    private final ThreadFactory threads;
    private final ConcurrentLinkedQueue<Runnable> queue = new ConcurrentLinkedQueue<>();
    /** Tasks queued and not yet finished; bounded by capacity. Atomic: many submitters. */
    private final AtomicInteger pending = new AtomicInteger();
    /** True while a drain is scheduled or running; the CAS elects the single drainer. */
    private final AtomicBoolean draining = new AtomicBoolean();
    /** Set once by close(); read by submitters and the drainer on other threads. */
    private volatile boolean closed;

    /**
     * @param name     thread name, for logs and thread dumps
     * @param capacity most tasks waiting at once, > 0
     */
    public SerialDispatcher(String name, int capacity) {
        if (capacity <= 0) {
            throw new IllegalArgumentException("capacity must be positive, got " + capacity);
        }
        this.name = name;
        this.capacity = capacity;
        this.threads = Thread.ofVirtual().name(name).factory();
    }

    /** Queues a task; false when closed or {@code capacity} tasks already wait. */
    public boolean submit(Runnable task) {
        if (closed) {
            return false;
        }
        if (pending.incrementAndGet() > capacity) {
            pending.decrementAndGet();
            return false;
        }
        queue.add(task);
        if (draining.compareAndSet(false, true)) {
            threads.newThread(this::drain).start();
        }
        return true;
    }

    /** Tasks queued or running. */
    public int pending() {
        return pending.get();
    }

    private void drain() {
        while (true) {
            Runnable task = queue.poll();
            if (task == null) {
                draining.set(false);
                // A submitter may have queued after our poll but seen draining == true.
                if (queue.isEmpty() || !draining.compareAndSet(false, true)) {
                    return;
                }
                continue;
            }
            try {
                if (!closed) {
                    task.run();
                }
            } catch (RuntimeException | Error e) {
                LOG.log(System.Logger.Level.WARNING, "[" + name + "] listener failed; continuing", e);
            } finally {
                pending.decrementAndGet();
            }
        }
    }

    /** Drops waiting tasks; a running task finishes. Idempotent. */
    @Override
    public void close() {
        closed = true;
        queue.clear();
    }
}
