package dev.tandem.engine.mock;

import dev.tandem.engine.LlmEngine;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs driven engines on one {@link VirtualClock}, jumping from one step end to the next, so
 * that a trace replay runs as fast as the bookkeeping allows instead of in real time.
 *
 * <h2>Design</h2>
 * Discrete-event simulation with the engines as the event sources: at the current time, call
 * every engine's {@code doWork()} until none has anything left to do (steps that end now emit
 * their tokens, new steps start and report their end times); then move the clock to the
 * earliest time an engine wants to wake ({@code nextWakeNanos()}), and repeat. Requests are
 * submitted between calls, at the virtual time of the caller's choosing ({@link #runUntil}).
 * Token sinks run on the driving thread, at the virtual time the token is produced.
 *
 * <h2>Concurrency</h2>
 * Not thread-safe: one thread drives the engines and the clock.
 */
public final class SimulationDriver {
    private final VirtualClock clock;
    private final List<LlmEngine> engines = new ArrayList<>();

    public SimulationDriver(VirtualClock clock) {
        this.clock = clock;
    }

    public VirtualClock clock() {
        return clock;
    }

    /** Adds a driven engine that uses this driver's clock. */
    public LlmEngine add(LlmEngine engine) {
        engine.nextWakeNanos(); // fails fast for an engine with its own thread
        engines.add(engine);
        return engine;
    }

    public List<LlmEngine> engines() {
        return List.copyOf(engines);
    }

    /** Runs every step that ends at or before {@code targetNanos}, then leaves the clock there. */
    public void runUntil(long targetNanos) {
        while (true) {
            settle();
            long next = nextWake();
            if (next > targetNanos) {
                break;
            }
            if (next > clock.nanoTime()) {
                clock.advanceTo(next);
            }
        }
        if (targetNanos > clock.nanoTime()) {
            clock.advanceTo(targetNanos);
        }
        settle();
    }

    /**
     * Runs until every engine is idle and returns that time.
     *
     * @throws IllegalStateException if work remains after {@code limitNanos}, or if an engine has
     *                               work that no step or expiry will ever move
     */
    public long runUntilIdle(long limitNanos) {
        while (true) {
            settle();
            if (engines.stream().allMatch(LlmEngine::isIdle)) {
                return clock.nanoTime();
            }
            long next = nextWake();
            if (next == Long.MAX_VALUE) {
                throw new IllegalStateException("simulation stuck at " + clock.nanoTime() + " ns: work remains but no engine will wake");
            }
            if (next > limitNanos) {
                throw new IllegalStateException("simulation still busy at the limit of " + limitNanos + " ns");
            }
            if (next > clock.nanoTime()) {
                clock.advanceTo(next);
            }
        }
    }

    private void settle() {
        boolean any;
        do {
            any = false;
            for (LlmEngine e : engines) {
                if (e.doWork() > 0) {
                    any = true;
                }
            }
        } while (any);
    }

    private long nextWake() {
        long next = Long.MAX_VALUE;
        for (LlmEngine e : engines) {
            next = Math.min(next, e.nextWakeNanos());
        }
        return next;
    }
}
