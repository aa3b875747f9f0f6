package dev.tandem.router;

import dev.tandem.core.LoadReport;
import dev.tandem.core.WorkerRole;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A worker as the router sees it: identity, role, slot in the prefix index, and its load: the
 * last load report corrected by the requests this router has sent since.
 *
 * <p>Load correction: a request routed here adds its prompt blocks to {@code activeBlocksDelta}
 * and its uncached prompt tokens to {@code queuedPrefillTokensDelta}; its first token (prefill
 * done) takes the prefill back, its end takes the blocks back. A new load report already
 * reflects everything before it, so it resets both deltas to zero. A request still in transit
 * when a report is taken is missed until the next report: an underestimate that the next
 * report repairs.
 *
 * <p>Safe for concurrent use: the report is replaced by the event thread, the counters are
 * changed atomically by routing and lifecycle calls, and readers combine them without a lock
 * (a decision may see a report and deltas from slightly different moments).
 */
final class WorkerLoad {
    private static final VarHandle ACTIVE_DELTA;
    private static final VarHandle PREFILL_DELTA;
    private static final VarHandle IN_FLIGHT;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            ACTIVE_DELTA = l.findVarHandle(WorkerLoad.class, "activeBlocksDelta", long.class);
            PREFILL_DELTA = l.findVarHandle(WorkerLoad.class, "queuedPrefillTokensDelta", long.class);
            IN_FLIGHT = l.findVarHandle(WorkerLoad.class, "inFlightRequests", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    final String id;
    final int slot;
    final WorkerRole role;
    /** Why volatile: replaced by the load-report thread, read by routing threads. */
    private volatile LoadReport report = LoadReport.IDLE;
    // The counters are fields changed through VarHandles (atomic adds, volatile reads) rather
    // than Atomic* objects, so a decision scoring 64 workers reads one object per worker
    // (RouterBenchmark.decidePrehashed, docs/benchmarks.md).
    /** Blocks of requests routed here since the last report minus those finished since. Volatile: see above. */
    private volatile long activeBlocksDelta;
    /** Uncached prompt tokens routed here since the last report minus those prefilled since. Volatile: see above. */
    private volatile long queuedPrefillTokensDelta;
    /** Requests this router sent here that have not finished. Volatile: see above. */
    private volatile int inFlightRequests;

    WorkerLoad(String id, int slot, WorkerRole role) {
        this.id = id;
        this.slot = slot;
        this.role = role;
    }

    void onReport(LoadReport r) {
        report = r;
        activeBlocksDelta = 0;
        queuedPrefillTokensDelta = 0;
    }

    LoadReport lastReport() {
        return report;
    }

    long activeBlocks() {
        return Math.max(0, report.activeBlocks() + activeBlocksDelta);
    }

    long queuedPrefillTokens() {
        return Math.max(0, report.queuedPrefillTokens() + queuedPrefillTokensDelta);
    }

    int inFlightRequests() {
        return inFlightRequests;
    }

    /** Active blocks / total blocks, 0 before the first report. */
    double kvUsage() {
        return kvUsage(report, activeBlocks());
    }

    /** {@code activeBlocks} / the report's total blocks, 0 if the report has none. */
    static double kvUsage(LoadReport r, long activeBlocks) {
        return r.totalBlocks() == 0 ? 0.0 : (double) activeBlocks / r.totalBlocks();
    }

    void routed(long activeBlocks, long prefillTokens) {
        ACTIVE_DELTA.getAndAdd(this, activeBlocks);
        PREFILL_DELTA.getAndAdd(this, prefillTokens);
        IN_FLIGHT.getAndAdd(this, 1);
    }

    void prefillDone(long prefillTokens) {
        PREFILL_DELTA.getAndAdd(this, -prefillTokens);
    }

    void finished(long activeBlocks) {
        ACTIVE_DELTA.getAndAdd(this, -activeBlocks);
        IN_FLIGHT.getAndAdd(this, -1);
    }
}
