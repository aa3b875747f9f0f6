package dev.tandem.runtime.transfer;

import java.time.Duration;

/**
 * A point in {@link System#nanoTime()} time by which a transfer must finish or fail.
 *
 * @param atNanos the deadline on the {@code System.nanoTime()} clock
 */
public record Deadline(long atNanos) {
    /** A deadline {@code timeout} from now. */
    public static Deadline in(Duration timeout) {
        return new Deadline(System.nanoTime() + timeout.toNanos());
    }

    /** Nanoseconds left, never negative. */
    public long remainingNanos() {
        return Math.max(0, atNanos - System.nanoTime());
    }

    public boolean expired() {
        return atNanos - System.nanoTime() <= 0;
    }

    /** The earlier of this deadline and {@code other}. */
    public Deadline min(Deadline other) {
        return atNanos - other.atNanos <= 0 ? this : other;
    }
}
