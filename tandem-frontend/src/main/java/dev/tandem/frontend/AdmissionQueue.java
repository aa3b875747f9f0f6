package dev.tandem.frontend;

import java.util.ArrayDeque;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Bounds the work the frontend hands to its workers, and the work waiting for that.
 *
 * <h2>Design</h2>
 * A request needs one <em>slot</em> per engine sequence it will run (prompts x n), clamped to the
 * total. Up to {@code maxRunning} slots are held at once; a request that cannot get its slots waits
 * in a FIFO queue of at most {@code maxQueued} requests, and one more is refused at once (the
 * frontend answers 429: overload is an expected outcome, so {@link #enter} returns it as a value).
 * A waiter gives up after its timeout (503) or when the queue closes for shutdown (503).
 * <p>
 * Why a frontend queue when engines queue too: an engine admits whatever it is given and lets it
 * wait for KV blocks, so without a bound here a burst turns into unbounded memory and latency
 * everywhere. Bounding at the frontend keeps the engines' waiting lists short (the router's load
 * picture stays accurate), makes overload visible to clients as 429 instead of as timeouts, and
 * costs nothing per token: slots are taken once per request and given back when it ends.
 * <p>
 * FIFO is strict: a request never overtakes an earlier waiter, even if its weight would fit, so
 * requests with large n cannot starve. Each waiter parks on its own condition and is signalled
 * only when admitted, so a release wakes exactly the threads it admits.
 *
 * <h2>Invariants</h2>
 * {@code 0 <= running <= maxRunning}; {@code waiters.size() <= maxQueued}; if the queue is not
 * empty, its head does not fit ({@code running + head.weight > maxRunning}). See
 * {@link #checkInvariants()}.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use; every field is guarded by {@code lock}. Callers are request threads
 * (virtual threads), which may block in {@link #enter}.
 */
final class AdmissionQueue {
    private final int maxRunning;
    private final int maxQueued;
    private final ReentrantLock lock = new ReentrantLock();
    private final ArrayDeque<Waiter> waiters = new ArrayDeque<>();
    private int running;
    private boolean closed;

    /** What {@link #enter} decided. */
    sealed interface Outcome permits Admitted, QueueFull, TimedOut, Closed {
    }

    /** The request may run; close the permit when it ends. */
    record Admitted(Permit permit) implements Outcome {
    }

    /** Every slot is taken and the queue is full: answer 429. */
    record QueueFull() implements Outcome {
    }

    /** The request waited its whole timeout: answer 503. */
    record TimedOut() implements Outcome {
    }

    /** The frontend is shutting down: answer 503. */
    record Closed() implements Outcome {
    }

    AdmissionQueue(int maxRunning, int maxQueued) {
        if (maxRunning < 1 || maxQueued < 0) {
            throw new IllegalArgumentException("maxRunning=" + maxRunning + " maxQueued=" + maxQueued);
        }
        this.maxRunning = maxRunning;
        this.maxQueued = maxQueued;
    }

    /**
     * Takes {@code weight} slots, waiting up to {@code timeoutNs} behind earlier requests.
     *
     * @throws InterruptedException if the thread is interrupted while waiting (nothing is held)
     */
    Outcome enter(int weight, long timeoutNs) throws InterruptedException {
        int w = Math.clamp(weight, 1, maxRunning);
        lock.lock();
        try {
            if (closed) {
                return new Closed();
            }
            if (waiters.isEmpty() && running + w <= maxRunning) {
                running += w;
                return new Admitted(new Permit(w));
            }
            if (waiters.size() >= maxQueued) {
                return new QueueFull();
            }
            Waiter me = new Waiter(w, lock.newCondition());
            waiters.addLast(me);
            return await(me, timeoutNs);
        } finally {
            lock.unlock();
        }
    }

    /** Requires {@code lock}. */
    private Outcome await(Waiter me, long timeoutNs) throws InterruptedException {
        long left = timeoutNs;
        try {
            while (!me.admitted && !closed && left > 0) {
                left = me.wakeup.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            giveUp(me);
            throw e;
        }
        if (me.admitted) {
            return new Admitted(new Permit(me.weight));
        }
        giveUp(me);
        return closed ? new Closed() : new TimedOut();
    }

    /** Requires {@code lock}: removes a waiter that will not run; returns its slots if it had them. */
    private void giveUp(Waiter me) {
        if (me.admitted) {
            running -= me.weight;
        } else {
            waiters.remove(me);
        }
        admitWaiting();
    }

    /** Requires {@code lock}: admits waiters from the head while they fit. */
    private void admitWaiting() {
        while (!waiters.isEmpty() && running + waiters.peekFirst().weight <= maxRunning) {
            Waiter next = waiters.pollFirst();
            running += next.weight;
            next.admitted = true;
            next.wakeup.signal();
        }
    }

    private void release(int weight) {
        lock.lock();
        try {
            running -= weight;
            admitWaiting();
        } finally {
            lock.unlock();
        }
    }

    /** Refuses new requests and wakes every waiter (they get {@link Closed}). Running ones continue. */
    void close() {
        lock.lock();
        try {
            closed = true;
            for (Waiter w : waiters) {
                w.wakeup.signal();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Slots held by running requests. */
    int running() {
        lock.lock();
        try {
            return running;
        } finally {
            lock.unlock();
        }
    }

    /** Requests waiting for slots. */
    int queued() {
        lock.lock();
        try {
            return waiters.size();
        } finally {
            lock.unlock();
        }
    }

    int maxQueued() {
        return maxQueued;
    }

    void checkInvariants() {
        lock.lock();
        try {
            if (running < 0 || running > maxRunning) {
                throw new IllegalStateException("running=" + running + " maxRunning=" + maxRunning);
            }
            if (waiters.size() > maxQueued) {
                throw new IllegalStateException("queued=" + waiters.size() + " maxQueued=" + maxQueued);
            }
            if (!waiters.isEmpty() && running + waiters.peekFirst().weight <= maxRunning) {
                throw new IllegalStateException("head waiter fits but waits: running=" + running
                        + " weight=" + waiters.peekFirst().weight);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Slots held by one admitted request; closing gives them back (idempotent). */
    final class Permit implements AutoCloseable {
        private final int weight;
        /** Guarded by {@code AdmissionQueue.this.lock} through {@link #release}; set once. */
        private boolean released;

        private Permit(int weight) {
            this.weight = weight;
        }

        @Override
        public void close() {
            lock.lock();
            try {
                if (released) {
                    return;
                }
                released = true;
            } finally {
                lock.unlock();
            }
            release(weight);
        }
    }

    private static final class Waiter {
        final int weight;
        final Condition wakeup;
        /** Guarded by the queue's lock. */
        boolean admitted;

        Waiter(int weight, Condition wakeup) {
            this.weight = weight;
            this.wakeup = wakeup;
        }
    }
}
