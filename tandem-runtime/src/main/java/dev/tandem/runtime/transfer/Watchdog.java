package dev.tandem.runtime.transfer;

import java.io.Closeable;
import java.io.IOException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Enforces deadlines on blocking channel operations by closing the channel when time runs out:
 * a thread blocked in {@code read}, {@code write} or {@code connect} then fails at once with an
 * {@link java.nio.channels.AsynchronousCloseException}. (Socket channels ignore SO_TIMEOUT, so
 * this is how a dead or silent peer is bounded.)
 *
 * <p>Safe for concurrent use: one daemon scheduler thread for the JVM fires the timers.
 */
final class Watchdog {
    private static final ScheduledThreadPoolExecutor TIMER = timer();

    private Watchdog() {
    }

    private static ScheduledThreadPoolExecutor timer() {
        ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> {
            Thread thread = new Thread(r, "tandem-transfer-watchdog");
            thread.setDaemon(true);
            return thread;
        });
        t.setRemoveOnCancelPolicy(true);
        return t;
    }

    /** One armed timer; {@link #disarm()} before the deadline or it closes the channel. */
    static final class Timer {
        private static final int ARMED = 0;
        private static final int DISARMED = 1;
        private static final int FIRED = 2;

        // ARMED until exactly one of the owner (disarm) or the timer thread (fire) wins the CAS,
        // so the owner knows for sure whether the channel was or will be closed.
        private final AtomicInteger state = new AtomicInteger(ARMED);
        private final Closeable channel;
        private volatile ScheduledFuture<?> future; // set once after scheduling; read by disarm

        private Timer(Closeable channel) {
            this.channel = channel;
        }

        private void fire() {
            if (state.compareAndSet(ARMED, FIRED)) {
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // closing is all we wanted; an error here leaves nothing more to do
                }
            }
        }

        /** Cancels the timer; returns false if it fired first (the channel is closed). */
        boolean disarm() {
            boolean won = state.compareAndSet(ARMED, DISARMED);
            ScheduledFuture<?> f = future;
            if (f != null) {
                f.cancel(false);
            }
            return won;
        }

        /** True if the deadline passed and the channel was closed. */
        boolean fired() {
            return state.get() == FIRED;
        }
    }

    /** Closes {@code channel} in {@code delayNanos} unless disarmed first. */
    static Timer arm(Closeable channel, long delayNanos) {
        Timer timer = new Timer(channel);
        timer.future = TIMER.schedule(timer::fire, Math.max(0, delayNanos), TimeUnit.NANOSECONDS);
        return timer;
    }
}
