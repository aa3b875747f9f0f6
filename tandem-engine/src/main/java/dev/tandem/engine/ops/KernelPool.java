package dev.tandem.engine.ops;

import dev.tandem.core.ConfigException;
import dev.tandem.core.TandemException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of {@code threadCount} threads that runs one job at a time: a {@link Task} cut
 * into chunks that the calling thread (worker 0) and {@code threadCount - 1} pool threads
 * (workers 1..) claim one by one. Sized once (by default to the cores) and reused for every
 * kernel call, so a call costs a few atomic operations, not a hand-off through an executor.
 *
 * <pre>
 * Design
 *   claim word (one AtomicLong): | generation 24 bits | chunk count 20 bits | next chunk 20 bits |
 *   run(task, n): the caller stores the task, sets remaining = n, publishes the claim word
 *   (generation + 1, n, 0), bumps the wake-up generation and unparks sleeping workers, then
 *   claims chunks like any worker and finally spins until remaining == 0.
 *   Claiming is a CAS of the claim word from (g, n, i) to (g, n, i + 1) with i &lt; n; the task is
 *   read after a successful claim. Chunks are claimed dynamically, so a worker the operating
 *   system has descheduled (this machine's 2 cores are shared) delays a job by at most the
 *   chunk it holds, never by the chunks it has not started: the caller takes them.
 * Invariants
 *   At most one job at a time (run is called from the owning thread only).
 *   A chunk index is claimed at most once: claims only advance the word of the live generation,
 *   and a job ends (remaining == 0) only after all n chunks were claimed and finished.
 *   The task field changes only between jobs, when no claim of the old job can succeed
 *   (its word is (g, n, n)), so a successful claim always reads its own job's task.
 * Concurrency
 *   Owned by one thread (the engine's step thread); that thread calls run() and close().
 *   Release/acquire: the caller's writes of task and outputs happen before the claim word's
 *   volatile set; a worker's CAS (acquire) sees them. A worker's chunk outputs happen before
 *   its decrement of remaining (release); the caller's read of remaining == 0 (acquire) sees
 *   them. Sleep/wake: a worker sets parked = true, then re-reads the generation before parking;
 *   the caller bumps the generation, then reads parked (both volatile), so no wake-up is lost.
 *   How long an idle worker spins first is its SpinBudget: 10 to 200 us as spinning has paid
 *   off, and no longer once the worker sees that it shares its core (its CPU time falls behind
 *   the wall clock), so the pool does not spin against the serving threads or other processes
 *   on a busy machine.
 * References
 *   Dynamic chunk self-scheduling as in OpenMP's schedule(dynamic) and ggml's threadpool chunk
 *   counter; spin-then-park waiting as ggml's threadpool does.
 * </pre>
 *
 * <p>Thread ownership: {@link #run} and {@link #close} from the owning thread only.
 */
public final class KernelPool implements AutoCloseable {
    /** One chunk of a job: called once per chunk, on whichever worker claimed it (0 = the caller). */
    public interface Task {
        void run(int worker, int chunk);
    }

    /** Most chunks per job (20 bits of the claim word). */
    public static final int MAX_CHUNKS = (1 << 20) - 1;
    private static final long INDEX_MASK = (1L << 20) - 1;
    /** True when this JVM measures a thread's CPU time (the contention probe of SpinBudget needs it). */
    private static final boolean CPU_TIME = cpuTimeMeasured();
    private static final long GENERATION_MASK = (1L << 24) - 1;

    private final int threadCount;
    private final Worker[] workers;
    private final AtomicLong claim = new AtomicLong();        // | generation | count | next |, see Design
    private final AtomicInteger remaining = new AtomicInteger(); // chunks of the live job not yet finished
    private Task task;                                          // the live job, written before the claim word
    private long jobGeneration;                                 // owner-thread copy of the live generation
    private volatile long wakeGeneration;                       // bumped per job; parked workers wait on it
    private volatile Throwable failure;                         // first failure of the live job
    private volatile boolean closed;                            // tells workers to exit

    /** A team of {@code threadCount} threads (the caller included); 1 means no pool threads. */
    public KernelPool(int threadCount) {
        if (threadCount < 1 || threadCount > 1024) {
            throw new ConfigException("kernel thread count must be 1..1024, got " + threadCount);
        }
        this.threadCount = threadCount;
        this.workers = new Worker[threadCount - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(i + 1);
            workers[i].thread = Thread.ofPlatform().daemon().name("tandem-kernel-" + (i + 1)).unstarted(workers[i]);
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

    /**
     * Runs chunks 0..chunks-1 of {@code t} on the team and returns when all are done; a
     * failure is rethrown. With {@code parallel} false (or one thread, or one chunk) the
     * chunks run in order on the caller with no synchronisation.
     */
    public void run(Task t, int chunks, boolean parallel) {
        if (chunks <= 0) {
            return;
        }
        if (chunks > MAX_CHUNKS) {
            throw new IllegalArgumentException("a job has at most " + MAX_CHUNKS + " chunks, got " + chunks);
        }
        if (!parallel || threadCount == 1 || chunks == 1) {
            for (int c = 0; c < chunks; c++) {
                t.run(0, c);
            }
            return;
        }
        if (closed) {
            throw new IllegalStateException("kernel pool is closed");
        }
        long g = (jobGeneration + 1) & GENERATION_MASK;
        jobGeneration = g;
        task = t;
        remaining.set(chunks);
        claim.set(g << 40 | (long) chunks << 20);
        wakeGeneration = wakeGeneration + 1; // single writer: the owning thread
        for (Worker w : workers) {
            if (w.parked) {
                LockSupport.unpark(w.thread);
            }
        }
        work(0, g);
        int spins = 0;
        while (remaining.get() != 0) {
            if (++spins < 20_000) {
                Thread.onSpinWait();
            } else {
                Thread.yield(); // a worker holding a chunk may be descheduled: give it the core
            }
        }
        task = null;
        Throwable f = failure;
        failure = null;
        if (f != null) {
            throw rethrow(f);
        }
    }

    /** Claims and runs chunks of generation g until none is left. */
    private void work(int worker, long g) {
        while (true) {
            long v = claim.get();
            long next = v & INDEX_MASK;
            if ((v >>> 40) != g || next >= ((v >>> 20) & INDEX_MASK)) {
                return;
            }
            if (!claim.compareAndSet(v, v + 1)) {
                continue;
            }
            try {
                task.run(worker, (int) next);
            } catch (Throwable e) {
                if (failure == null) {
                    failure = e;
                }
            } finally {
                remaining.decrementAndGet();
            }
        }
    }

    private static boolean cpuTimeMeasured() {
        ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        return bean.isCurrentThreadCpuTimeSupported() && bean.isThreadCpuTimeEnabled();
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
        private final SpinBudget budget = new SpinBudget();
        private final ThreadMXBean cpu = ManagementFactory.getThreadMXBean();

        Worker(int index) {
            this.index = index;
        }

        @Override
        public void run() {
            long seen = 0;
            while (true) {
                seen = awaitWake(seen);
                if (closed) {
                    return;
                }
                long v = claim.get();
                work(index, v >>> 40);
            }
        }

        /**
         * Spins for the budget, then parks, until the wake-up generation moves past {@code seen}.
         * The CPU-time probe (a system call) runs only in spins longer than 2 PROBE_NS, never in
         * the short gaps between the kernels of a step.
         */
        private long awaitWake(long seen) {
            long start = System.nanoTime();
            long probeWall = 0;
            long probeCpu = 0;
            boolean probed = false;
            int spins = 0;
            long g;
            while ((g = wakeGeneration) == seen && !closed) {
                Thread.onSpinWait();
                if ((++spins & 255) != 0) {
                    continue;
                }
                long now = System.nanoTime();
                boolean contended = false;
                if (!probed && CPU_TIME && now - start >= SpinBudget.PROBE_NS) {
                    if (probeWall == 0) {
                        probeWall = now;
                        probeCpu = cpu.getCurrentThreadCpuTime();
                    } else if (now - probeWall >= SpinBudget.PROBE_NS) {
                        probed = true;
                        contended = SpinBudget.isContended(cpu.getCurrentThreadCpuTime() - probeCpu, now - probeWall);
                    }
                }
                if (contended) {
                    budget.contended();
                    return sleep(seen);
                }
                if (now - start >= budget.nanos()) {
                    budget.parked();
                    return sleep(seen);
                }
            }
            budget.woke();
            return g;
        }

        /** Parks until the wake-up generation moves past {@code seen} (or the pool closes). */
        private long sleep(long seen) {
            long g;
            while ((g = wakeGeneration) == seen && !closed) {
                parked = true;
                if (wakeGeneration == seen && !closed) {
                    LockSupport.park(this);
                }
                parked = false;
            }
            return g;
        }
    }
}
