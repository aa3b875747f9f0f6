package dev.tandem.engine.scheduler;

/**
 * Source of monotonic time in nanoseconds for an engine's scheduler. The real clock for serving,
 * a virtual clock for simulations and deterministic tests.
 */
@FunctionalInterface
public interface NanoClock {
    /** Monotonic nanoseconds; only differences are meaningful. */
    long nanoTime();

    /** {@link System#nanoTime()}. */
    static NanoClock system() {
        return System::nanoTime;
    }
}
