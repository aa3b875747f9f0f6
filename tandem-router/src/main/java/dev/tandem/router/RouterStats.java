package dev.tandem.router;

/**
 * A moment's view of the router's counters (for metrics and logs). Counters count since the
 * router started; the rest are current values.
 *
 * @param workers             registered workers
 * @param approximateWorkers  workers currently routed from the approximate record
 * @param indexedBlocks       distinct block hashes in the event index
 * @param prunedBlocks        entries the event index dropped at its cap
 * @param approximateBlocks   distinct block hashes in the approximate record
 * @param approximateExpired  (block, worker) records whose time-to-live ran out
 * @param eventsApplied       KV events applied
 * @param eventsDuplicate     events ignored because already applied
 * @param eventsUnknownWorker events from workers the router does not know
 * @param eventsDropped       buffered events dropped while awaiting a snapshot
 * @param gapsDetected        gaps in a worker's event numbers
 * @param snapshotsRequested  snapshot requests made (including repeats)
 * @param snapshotsApplied    snapshots applied
 * @param snapshotsIgnored    snapshots ignored as older than the applied events
 * @param routed              decisions that chose a worker (route and preview)
 * @param rejectedBusy        decisions that found every candidate busy
 * @param rejectedNoWorker    decisions with no candidate (no worker of the pool, or unknown target)
 */
public record RouterStats(int workers, int approximateWorkers, long indexedBlocks, long prunedBlocks,
                          long approximateBlocks, long approximateExpired, long eventsApplied, long eventsDuplicate,
                          long eventsUnknownWorker, long eventsDropped, long gapsDetected, long snapshotsRequested,
                          long snapshotsApplied, long snapshotsIgnored, long routed, long rejectedBusy,
                          long rejectedNoWorker) {

    /** Mutable collector filled by the router's parts. */
    static final class Builder {
        int workers;
        int approximateWorkers;
        long indexedBlocks;
        long prunedBlocks;
        long approximateBlocks;
        long approximateExpired;
        long eventsApplied;
        long eventsDuplicate;
        long eventsUnknownWorker;
        long eventsDropped;
        long gapsDetected;
        long snapshotsRequested;
        long snapshotsApplied;
        long snapshotsIgnored;
        long routed;
        long rejectedBusy;
        long rejectedNoWorker;

        RouterStats build() {
            return new RouterStats(workers, approximateWorkers, indexedBlocks, prunedBlocks, approximateBlocks,
                    approximateExpired, eventsApplied, eventsDuplicate, eventsUnknownWorker, eventsDropped,
                    gapsDetected, snapshotsRequested, snapshotsApplied, snapshotsIgnored, routed, rejectedBusy,
                    rejectedNoWorker);
        }
    }
}
