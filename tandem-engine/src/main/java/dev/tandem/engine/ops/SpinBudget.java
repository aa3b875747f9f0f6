package dev.tandem.engine.ops;

/**
 * How long an idle {@link KernelPool} worker spins for its next job before it parks, adapted to
 * what spinning has been worth.
 *
 * <pre>
 * Design
 *   A worker between two jobs either spins (the next job starts at once, but the core stays
 *   busy) or parks (the core is free for other threads, but waking costs an unpark and the
 *   operating system's wake-up latency, some 10 to 100 us). Within a forward step the gaps
 *   between kernels are a few microseconds, between steps (sampling, scheduling, streaming to
 *   clients on the serving threads) they are longer. The budget follows the outcomes:
 *     the job came while spinning       -> budget doubles (up to MAX_NS)
 *     the spin ran out, the worker parked -> budget halves (down to MIN_NS)
 *     the core is contended             -> park now, budget MIN_NS
 *   "Contended": after PROBE_NS of spinning, the worker compares its own CPU time with the
 *   time that passed; less than 3/4 of it means the operating system ran something else on
 *   this core meanwhile (another process, the serving threads): the machine has no idle core,
 *   and every further microsecond of spinning is taken from a thread with real work.
 * Invariants
 *   MIN_NS &le; budget &le; MAX_NS.
 * Concurrency
 *   One per worker, used by that worker's thread only.
 * </pre>
 */
final class SpinBudget {
    /** Longest spin, ns (the gaps between the kernels of one step are shorter). */
    static final long MAX_NS = 200_000;
    /** Shortest spin, ns: about a wake-up's cost, so a job arriving at once is never slept through. */
    static final long MIN_NS = 10_000;
    /** Spin time after which the worker checks whether it has had the core to itself, ns. */
    static final long PROBE_NS = 20_000;

    private long budgetNanos = MAX_NS;

    /** The current spin budget, ns. */
    long nanos() {
        return budgetNanos;
    }

    /** The job came while spinning. */
    void woke() {
        budgetNanos = Math.min(MAX_NS, budgetNanos * 2);
    }

    /** The spin ran out and the worker parked. */
    void parked() {
        budgetNanos = Math.max(MIN_NS, budgetNanos / 2);
    }

    /** The worker found its core shared and parks at once. */
    void contended() {
        budgetNanos = MIN_NS;
    }

    /** True when {@code cpuNanos} of this thread's CPU time over {@code wallNanos} means the core is shared. */
    static boolean isContended(long cpuNanos, long wallNanos) {
        return wallNanos >= PROBE_NS && cpuNanos * 4 < wallNanos * 3;
    }
}
