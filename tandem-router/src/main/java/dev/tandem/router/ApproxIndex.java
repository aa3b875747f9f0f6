package dev.tandem.router;

/**
 * The router's own guess of what workers without KV events hold: every routing decision to
 * such a worker records the request's blocks on it for a time-to-live.
 *
 * <pre>
 * Design
 *   A PrefixIndex (the same walk as the event index) plus an ExpiryTable with one expiry per
 *   (block, worker). Routing the same prefix again refreshes its expiry. Expiry is driven by
 *   the caller's clock (expire(nowNs)), so simulated time works and tests need no sleeping.
 *   The PrefixIndex's cap bounds memory as for the event index.
 *
 * Invariants (checkInvariants)
 *   - every worker bit in the index has a live expiry pair (or was just pruned: pruning may
 *     leave an expiry pair whose bit is gone, never the reverse);
 *   - the PrefixIndex and ExpiryTable invariants hold.
 *
 * Concurrency
 *   Safe for concurrent use. Writers (record, expire, clearSlot) hold this object's monitor;
 *   match() reads the PrefixIndex without it (see PrefixIndex on concurrent reads).
 *
 * References
 *   Dynamo's ApproxKvIndexer (lib/llm/src/kv_router/approx.rs, default TTL 120 s) and SGLang's
 *   router, which both record their own decisions when engines publish no cache events.
 * </pre>
 */
final class ApproxIndex {
    private final PrefixIndex index;
    private final long ttlNs;
    private final ExpiryTable expiries = new ExpiryTable();
    private long expiredPairs;
    /** Earliest heap record's due time (Long.MAX_VALUE if none). Why volatile: read without the monitor. */
    private volatile long nextDueNs = Long.MAX_VALUE;

    ApproxIndex(int maxWorkers, long maxEntries, long ttlNs) {
        if (ttlNs <= 0) {
            throw new IllegalArgumentException("ttlNs must be positive, got " + ttlNs);
        }
        this.index = new PrefixIndex(maxWorkers, maxEntries, 0, 0.8);
        this.ttlNs = ttlNs;
    }

    PrefixIndex index() {
        return index;
    }

    /** Records that {@code hashes[0 .. count)} were just sent to worker {@code slot}. */
    synchronized void record(int slot, long[] hashes, int count, long nowNs) {
        long expiry = nowNs + ttlNs;
        for (int i = 0; i < count; i++) {
            expiries.put(hashes[i], slot, expiry);
            index.store(slot, hashes[i]);
        }
        nextDueNs = expiries.nextDueNs();
    }

    /** Calls expire() only when a record may be due: one volatile read otherwise. */
    void expireIfDue(long nowNs) {
        if (nowNs >= nextDueNs) {
            expire(nowNs);
        }
    }

    /** Drops every record whose time-to-live has passed at {@code nowNs}; returns how many. */
    synchronized int expire(long nowNs) {
        int n = expiries.expire(nowNs, (hash, slot) -> index.remove(slot, hash));
        expiredPairs += n;
        nextDueNs = expiries.nextDueNs();
        return n;
    }

    /** Forgets everything recorded for {@code slot}. */
    synchronized void clearSlot(int slot) {
        index.clearSlot(slot);
        expiries.removeSlot(slot);
    }

    synchronized long expiredPairs() {
        return expiredPairs;
    }

    synchronized void checkInvariants() {
        index.checkInvariants();
        expiries.checkInvariants();
        index.forEachHolder((hash, slot) -> {
            if (expiries.expiryOf(hash, slot) == Long.MIN_VALUE) {
                throw new IllegalStateException("approximate block " + Long.toHexString(hash)
                        + " on slot " + slot + " has no expiry");
            }
        });
    }
}
