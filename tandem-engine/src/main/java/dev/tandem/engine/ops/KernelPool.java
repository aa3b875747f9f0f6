package dev.tandem.engine.ops;

import dev.tandem.core.ConfigException;
import dev.tandem.core.TandemException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of {@code threadCount} threads that run one {@link Task} at a time: the calling
 * thread is worker 0 and {@code threadCount - 1} pool threads are workers 1.. . Sized once (by
 * default to the cores) and reused for every kernel call, so a call costs a barrier, not a
 * thread hand-off through an executor queue.
 *
 * <pre>
 * Design
 *   run(task): caller stores the task, sets pending = workers, bumps generation (volatile
 *   write = release), unparks sleepers, runs its own share, then spins until pending == 0.
 *   Worker loop: wait until generation changes (volatile read = acquire; spin for SPIN_NS,
 *   then park), run its share, decrement pending (release). The caller's read of pending == 0
 *   therefore sees every worker's writes to the task's outputs.
 *   A task splits its work by (worker, workerCount) itself: no queues, no allocation.
 * Invariants
 *   At most one task runs at a time (run is called from the owning thread only).
 *   pending counts workers that have not finished the current generation; it is 0 between runs.
 * Concurrency
 *   Owned by one thread (the engine's step thread); that thread calls run() and close().
 *   Sleep/wake: a worker sets parked = true, then re-reads generation before parking; the
 *   caller bumps generation, then reads parked. Both are volatile, so one of them sees the
 *   other and no wake-up is lost.
 * References
 *   The spin-then-park barrier follows what OpenMP runtimes and ggml's thread pool do (spin on
 *   a shared counter for a short while before sleeping).
 * </pre>
 *
 * <p>Thread ownership: {@link #run} and {@link #close} from the owning thread only.
 */
public final class KernelPool implements AutoCloseable {
    /** Work split among the team: called once per worker, worker 0 on the caller's thread. */
    public interface Task {
        void run(int worker, int workerCount);
    }

    /** How long an idle worker spins before parking, ns (a decode step's gaps between kernels are shorter). */
    private static final long SPIN_NS = 200_000;

    private final int threadCount;
    private final Worker[] workers;
    private Task task;                                      // written before the generation bump
    private volatile long generation;                       // bumped to start a run (release/acquire)
    private final AtomicInteger pending = new AtomicInteger(); // workers still running this generation
    private int activeCount;                                // workers taking part in this run, written before the bump
    private volatile Throwable failure;                     // first worker failure of this run
    private volatile boolean closed;                        // tells workers to exit

    /** A team of {@code threadCount} threads (the caller included); 1 means no pool threads. */
    public KernelPool(int threadCount) {
        if (threadCount < 1 || threadCount > 1024) {
            throw new ConfigException("kernel thread count must be 1..1024, got " + threadCount);
        }
        this.threadCount = threadCount;
        this.workers = new Worker[threadCount - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(i + 1);
            Thread t = Thread.ofPlatform().daemon().name("tandem-kernel-" + (i + 1)).unstarted(workers[i]);
            workers[i].thread = t;
        }
        for (Worker w : workers) {
            w.thread.start();
        }
    }

    /** The default team size: one thread per available processor. */
    public static int defaultThreadCount() {
        return Runtime.getRuntime().availableProcessors();
    }

    public int threadCount() {
        return threadCount;
    }

    /** Runs {@code t} on every worker and returns when all are done; a worker's failure is rethrown. */
    public void run(Task t) {
        run(t, threadCount);
    }

    /**
     * Runs {@code t} on the first {@code count} workers only ({@code count} is clamped to
     * 1..threadCount); with 1 the task runs on the caller with no synchronisation.
     */
    public void run(Task t, int count) {
        int n = Math.max(1, Math.min(count, threadCount));
        if (n == 1) {
            t.run(0, 1);
            return;
        }
        if (closed) {
            throw new IllegalStateException("kernel pool is closed");
        }
        task = t;
        activeCount = n;
        pending.set(n - 1);
        generation = generation + 1; // single writer: the owning thread
        for (int i = 0; i < n - 1; i++) {
            Worker w = workers[i];
            if (w.parked) {
                LockSupport.unpark(w.thread);
            }
        }
        Throwable own = null;
        try {
            t.run(0, n);
        } catch (Throwable e) {
            own = e;
        }
        awaitWorkers();
        task = null;
        Throwable workerFailure = failure;
        failure = null;
        if (own != null) {
            throw rethrow(own);
        }
        if (workerFailure != null) {
            throw rethrow(workerFailure);
        }
    }

    private void awaitWorkers() {
        int spins = 0;
        while (pending.get() != 0) {
            if (++spins < 20_000) {
                Thread.onSpinWait();
            } else {
                Thread.yield(); // a worker may be descheduled on a busy machine: give it the core
            }
        }
    }

    private static RuntimeException rethrow(Throwable e) {
        if (e instanceof RuntimeException r) {
            return r;
        }
        if (e instanceof Error err) {
            throw err;
        }
        return new TandemException("kernel worker failed: " + e, e);
    }

    /**
     * The start of part {@code part} of {@code parts} of {@code [0, total)}, in multiples of
     * {@code align} (the last part ends at {@code total}).
     */
    public static int split(int total, int part, int parts, int align) {
        if (part >= parts) {
            return total;
        }
        long units = (total + align - 1) / align;
        long start = units * part / parts * align;
        return (int) Math.min(total, start);
    }

    /** Stops the pool threads (they exit at their next wake-up). */
    @Override
    public void close() {
        closed = true;
        for (Worker w : workers) {
            LockSupport.unpark(w.thread);
        }
    }

    private final class Worker implements Runnable {
        final int index;
        Thread thread;
        volatile boolean parked; // read by the caller to decide whether to unpark

        Worker(int index) {
            this.index = index;
        }

        @Override
        public void run() {
            long seen = 0;
            while (true) {
                long g = awaitGeneration(seen);
                if (closed) {
                    return;
                }
                seen = g;
                if (index < activeCount) {
                    try {
                        task.run(index, activeCount);
                    } catch (Throwable e) {
                        if (failure == null) {
                            failure = e;
                        }
                    } finally {
                        pending.decrementAndGet();
                    }
                }
            }
        }

        private long awaitGeneration(long seen) {
            long spinStart = System.nanoTime();
            int spins = 0;
            long g;
            while ((g = generation) == seen && !closed) {
                if ((++spins & 255) != 0 || System.nanoTime() - spinStart < SPIN_NS) {
                    Thread.onSpinWait();
                } else {
                    parked = true;
                    if (generation == seen && !closed) {
                        LockSupport.park(this);
                    }
                    parked = false;
                    spinStart = System.nanoTime();
                }
            }
            return g;
        }
    }
}
