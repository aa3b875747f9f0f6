package dev.tandem.router;

import dev.tandem.core.LoadReport;
import dev.tandem.core.WorkerRole;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

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
final class Worker {
    final String id;
    final int slot;
    final WorkerRole role;
    /** Why volatile: replaced by the load-report thread, read by routing threads. */
    private volatile LoadReport report = LoadReport.IDLE;
    /** Blocks of requests routed here since the last report minus those finished since. */
    private final AtomicLong activeBlocksDelta = new AtomicLong();
    /** Uncached prompt tokens routed here since the last report minus those prefilled since. */
    private final AtomicLong queuedPrefillTokensDelta = new AtomicLong();
    /** Requests this router sent here that have not finished. */
    private final AtomicInteger inFlightRequests = new AtomicInteger();

    Worker(String id, int slot, WorkerRole role) {
        this.id = id;
        this.slot = slot;
        this.role = role;
    }

    void onReport(LoadReport r) {
        report = r;
        activeBlocksDelta.set(0);
        queuedPrefillTokensDelta.set(0);
    }

    LoadReport lastReport() {
        return report;
    }

    long activeBlocks() {
        return Math.max(0, report.activeBlocks() + activeBlocksDelta.get());
    }

    long queuedPrefillTokens() {
        return Math.max(0, report.queuedPrefillTokens() + queuedPrefillTokensDelta.get());
    }

    int inFlightRequests() {
        return inFlightRequests.get();
    }

    /** Active blocks / total blocks, 0 before the first report. */
    double kvUsage() {
        LoadReport r = report;
        return r.totalBlocks() == 0 ? 0.0 : (double) activeBlocks() / r.totalBlocks();
    }

    void routed(long activeBlocks, long prefillTokens) {
        activeBlocksDelta.addAndGet(activeBlocks);
        queuedPrefillTokensDelta.addAndGet(prefillTokens);
        inFlightRequests.incrementAndGet();
    }

    void prefillDone(long prefillTokens) {
        queuedPrefillTokensDelta.addAndGet(-prefillTokens);
    }

    void finished(long activeBlocks) {
        activeBlocksDelta.addAndGet(-activeBlocks);
        inFlightRequests.decrementAndGet();
    }
}
