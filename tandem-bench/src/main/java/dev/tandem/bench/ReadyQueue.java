package dev.tandem.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

/**
 * The sessions whose next request may be sent, ordered by the time it becomes ready, then by
 * insertion. A session is in the queue at most once: it leaves when its request is sent and
 * comes back (at the tail, ready now) when the reply arrived and it has more turns, which is what
 * makes conversations interleave.
 *
 * <p>Safe for concurrent use: the dispatcher takes, request threads put back and finish.
 */
final class ReadyQueue {
    /** A session waiting to send its request number {@code turn}, from {@code readyAtNs} on. */
    record Entry(SessionState session, long readyAtNs, long order) {
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final PriorityQueue<Entry> queue = new PriorityQueue<>((a, b) -> a.readyAtNs != b.readyAtNs
            ? Long.compare(a.readyAtNs, b.readyAtNs) : Long.compare(a.order, b.order));
    private final LongSupplier clock;
    private long nextOrder;
    private int liveSessions;

    ReadyQueue(LongSupplier clock) {
        this.clock = clock;
    }

    /** Adds a session that has never run; counts it as live until {@link #finish}. */
    void addNew(SessionState session, long readyAtNs) {
        lock.lock();
        try {
            liveSessions++;
            queue.add(new Entry(session, readyAtNs, nextOrder++));
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Puts a live session back, ready at {@code readyAtNs}. */
    void putBack(SessionState session, long readyAtNs) {
        lock.lock();
        try {
            queue.add(new Entry(session, readyAtNs, nextOrder++));
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** A live session has no more requests to send. */
    void finish() {
        lock.lock();
        try {
            liveSessions--;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits for the first session that is ready now and removes it; returns null once no session
     * is live (every session has finished).
     */
    Entry take() throws InterruptedException {
        lock.lock();
        try {
            while (true) {
                Entry head = queue.peek();
                if (head == null) {
                    if (liveSessions == 0) {
                        return null;
                    }
                    changed.await();
                    continue;
                }
                long waitNs = head.readyAtNs - clock.getAsLong();
                if (waitNs <= 0) {
                    return queue.poll();
                }
                changed.await(waitNs, TimeUnit.NANOSECONDS);
            }
        } finally {
            lock.unlock();
        }
    }

    /** The queued entries in take order (for tests). */
    List<Entry> snapshot() {
        lock.lock();
        try {
            List<Entry> all = new ArrayList<>(queue);
            all.sort(queue.comparator());
            return all;
        } finally {
            lock.unlock();
        }
    }

    int liveSessions() {
        lock.lock();
        try {
            return liveSessions;
        } finally {
            lock.unlock();
        }
    }
}
