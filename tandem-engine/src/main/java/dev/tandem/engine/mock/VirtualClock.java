package dev.tandem.engine.mock;

import dev.tandem.engine.scheduler.NanoClock;

/**
 * Simulated time: stands still until the simulation moves it. Starts at 0.
 *
 * <p>Moved by one driving thread; readable from any thread.
 */
public final class VirtualClock implements NanoClock {
    /** Written by the driver, read by engines and observers on other threads. */
    private volatile long nowNanos;

    @Override
    public long nanoTime() {
        return nowNanos;
    }

    /** Moves time forward to {@code nanos}; never backwards. */
    public void advanceTo(long nanos) {
        if (nanos < nowNanos) {
            throw new IllegalArgumentException("virtual time cannot go back from " + nowNanos + " to " + nanos);
        }
        nowNanos = nanos;
    }

    public void advanceBy(long nanos) {
        advanceTo(nowNanos + nanos);
    }
}
