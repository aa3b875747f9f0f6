package dev.tandem.runtime.kvevents;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvSnapshot;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.LongAdder;

/**
 * Turns an external engine's KV cache events into Tandem's own numbered {@link KvEvent}s, with
 * Tandem's block hashes, so the router indexes an engine's cache exactly as it indexes a
 * Tandem worker's.
 *
 * <pre>
 * Design
 *   The engine's block hashes are never sent on: they depend on the engine's hash function
 *   and seed (vLLM's PYTHONHASHSEED or sha256 with a random prefix), which the frontend cannot
 *   reproduce. A BlockStored carries its blocks' token ids, so each block's Tandem hashes are
 *   computed here with BlockHasher: local = XXH3(tokens of the block), sequence = chain(parent's
 *   sequence hash, local), exactly what the frontend computes for a prompt at the same block
 *   size. Block size: the engine's (vLLM defaults to 16); a worker declares that block size and
 *   the frontend and router of its model use it, so a BlockStored of another size cannot be
 *   indexed and is counted and dropped.
 *
 *   Map from engine key (EngineBlockKeys) to Tandem hash, bounded to maxTrackedBlocks entries,
 *   least recently used first out:
 *     BlockStored     parent resolved through the map; an unknown parent (stored before this
 *                     translator started, or evicted from the map) leaves the whole chain
 *                     unknown: its blocks are counted as orphans and not announced (the router
 *                     under-estimates, never over-estimates). Otherwise every block is mapped,
 *                     marked present, and one Stored event announces the chain.
 *     BlockRemoved    each present key is marked absent; a Tandem hash whose last present key
 *                     went (the same tokens may be held under two keys: two media, or a hash
 *                     collision of the engine's) is announced in one Removed event. Unknown
 *                     keys are counted.
 *     AllBlocksCleared, lost()  every key absent, counts reset, one Cleared event. The map keeps
 *                     its entries: an engine hash always names the same tokens, so children
 *                     stored later still resolve their parents.
 *   Evicting a present entry from the map announces its removal (when its count drops to 0), so
 *   the router never keeps a block this translator can no longer retract.
 *   Blocks the router must not offer to plain requests (a LoRA adapter's, blocks with extra hash
 *   keys, KV cache groups other than 0) are skipped and counted; their children are orphans.
 *
 * Invariants (checkInvariants)
 *   - presentCount has exactly the Tandem hashes of present entries, each with their number;
 *   - the map holds at most maxTrackedBlocks entries;
 *   - events leave numbered 0, 1, 2, ... without gaps; a snapshot is the set presentCount
 *     names, as of the last event numbered.
 *
 * Concurrency
 *   Safe for concurrent use: apply(), lost() and kvSnapshot() hold this object's monitor, and
 *   listeners are called under it, in event order (KvEventListener: they must not block).
 * </pre>
 */
public final class KvEventTranslator {
    private static final System.Logger LOG = System.getLogger(KvEventTranslator.class.getName());

    /** One engine block known to this translator. Guarded by the translator's monitor. */
    private static final class Entry {
        final long sequenceHash;
        boolean present;

        Entry(long sequenceHash) {
            this.sequenceHash = sequenceHash;
        }
    }

    private final String workerId;
    private final int blockSizeTokens;
    private final int maxTrackedBlocks;
    private final LinkedHashMap<Long, Entry> entries;        // guarded by this; access order
    private final Map<Long, Integer> presentCount = new HashMap<>();   // guarded by this
    private final List<KvEventListener> listeners = new CopyOnWriteArrayList<>();
    private final List<Long> evictedPresent = new ArrayList<>();      // guarded by this; scratch
    private long nextEventId;                                          // guarded by this
    private boolean blockSizeWarned;                                   // guarded by this

    private final LongAdder eventsEmitted = new LongAdder();
    private final LongAdder blocksStored = new LongAdder();
    private final LongAdder blocksRemoved = new LongAdder();
    private final LongAdder orphanBlocks = new LongAdder();
    private final LongAdder unknownRemovals = new LongAdder();
    private final LongAdder skippedBlocks = new LongAdder();
    private final LongAdder blockSizeMismatches = new LongAdder();
    private final LongAdder unknownEvents = new LongAdder();

    /**
     * @param workerId         for log lines
     * @param blockSizeTokens  the engine's KV block size, which the worker declares
     * @param maxTrackedBlocks most engine blocks remembered (a few times the engine's pool)
     */
    public KvEventTranslator(String workerId, int blockSizeTokens, int maxTrackedBlocks) {
        if (blockSizeTokens <= 0 || maxTrackedBlocks <= 0) {
            throw new IllegalArgumentException("blockSizeTokens and maxTrackedBlocks must be positive, got "
                    + blockSizeTokens + " and " + maxTrackedBlocks);
        }
        this.workerId = workerId;
        this.blockSizeTokens = blockSizeTokens;
        this.maxTrackedBlocks = maxTrackedBlocks;
        this.entries = new LinkedHashMap<>(16, 0.75f, true);
    }

    /** Registers a listener for events from now on; closing the handle removes it. */
    public AutoCloseable subscribe(KvEventListener listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    public int blockSizeTokens() {
        return blockSizeTokens;
    }

    /** Every block announced and not retracted, as of the last event numbered. */
    public synchronized KvSnapshot kvSnapshot() {
        long[] hashes = new long[presentCount.size()];
        int i = 0;
        for (long h : presentCount.keySet()) {
            hashes[i++] = h;
        }
        return new KvSnapshot(nextEventId - 1, hashes);
    }

    /** Applies one decoded engine event. */
    synchronized void apply(EngineKvEvent event) {
        switch (event) {
            case EngineKvEvent.BlockStored s -> stored(s);
            case EngineKvEvent.BlockRemoved r -> removed(r);
            case EngineKvEvent.AllBlocksCleared c -> clear();
            case EngineKvEvent.Unknown u -> unknownEvents.increment();
        }
    }

    /**
     * Some of the engine's events are lost for good (a gap replay could not fill, a batch that
     * did not decode): forget which blocks are present and start over, announcing a Cleared.
     */
    synchronized void lost() {
        clear();
    }

    private void stored(EngineKvEvent.BlockStored s) {
        int blocks = s.blockKeys().length;
        if (s.blockSizeTokens() != blockSizeTokens) {
            blockSizeMismatches.increment();
            if (!blockSizeWarned) {
                blockSizeWarned = true;
                LOG.log(System.Logger.Level.WARNING, "[worker={0}] the engine stores blocks of {1} tokens but this "
                        + "worker declares {2}; its blocks are not indexed (give the worker the engine''s block size)",
                        workerId, s.blockSizeTokens(), blockSizeTokens);
            }
            return;
        }
        if (!s.indexable()) {
            skippedBlocks.add(blocks);
            return;
        }
        long parent = 0;
        if (s.hasParent()) {
            Entry p = entries.get(s.parentKey());
            if (p == null) {
                orphanBlocks.add(blocks);
                return;
            }
            parent = p.sequenceHash;
        }
        long[] sequence = new long[blocks];
        long[] local = new long[blocks];
        long previous = parent;
        for (int b = 0; b < blocks; b++) {
            local[b] = BlockHasher.localHash(s.tokenIds(), b * blockSizeTokens, blockSizeTokens);
            sequence[b] = (b == 0 && !s.hasParent()) ? local[b] : BlockHasher.chain(previous, local[b]);
            previous = sequence[b];
            markPresent(s.blockKeys()[b], sequence[b]);
        }
        blocksStored.add(blocks);
        emit(new KvEvent.Stored(nextEventId, s.hasParent(), parent, sequence, local));
        emitEvicted();
    }

    private void markPresent(long key, long sequenceHash) {
        Entry e = entries.get(key);
        if (e != null && e.sequenceHash != sequenceHash) {
            // The engine reused a hash for other tokens (a collision on its side): retract the old.
            if (e.present && release(e.sequenceHash)) {
                evictedPresent.add(e.sequenceHash);
            }
            entries.remove(key);
            e = null;
        }
        if (e == null) {
            e = new Entry(sequenceHash);
            entries.put(key, e);
            evictOverflow();
        }
        if (!e.present) {
            e.present = true;
            presentCount.merge(sequenceHash, 1, Integer::sum);
        }
    }

    private void evictOverflow() {
        Iterator<Entry> it = entries.values().iterator();
        while (entries.size() > maxTrackedBlocks) {
            Entry eldest = it.next();
            it.remove();
            if (eldest.present && release(eldest.sequenceHash)) {
                evictedPresent.add(eldest.sequenceHash);
            }
        }
    }

    /** Drops one present key of {@code sequenceHash}; true when it was the last. */
    private boolean release(long sequenceHash) {
        Integer count = presentCount.get(sequenceHash);
        if (count == null) {
            return false;
        }
        if (count == 1) {
            presentCount.remove(sequenceHash);
            return true;
        }
        presentCount.put(sequenceHash, count - 1);
        return false;
    }

    private void removed(EngineKvEvent.BlockRemoved r) {
        long[] gone = new long[r.blockKeys().length];
        int n = 0;
        for (long key : r.blockKeys()) {
            Entry e = entries.get(key);
            if (e == null || !e.present) {
                unknownRemovals.increment();
                continue;
            }
            e.present = false;
            if (release(e.sequenceHash)) {
                gone[n++] = e.sequenceHash;
            }
        }
        if (n > 0) {
            blocksRemoved.add(n);
            emit(new KvEvent.Removed(nextEventId, Arrays.copyOf(gone, n)));
        }
    }

    private void emitEvicted() {
        if (evictedPresent.isEmpty()) {
            return;
        }
        long[] gone = new long[evictedPresent.size()];
        int n = 0;
        for (long h : evictedPresent) {
            if (!presentCount.containsKey(h)) {   // stored again under another key since
                gone[n++] = h;
            }
        }
        evictedPresent.clear();
        if (n > 0) {
            emit(new KvEvent.Removed(nextEventId, Arrays.copyOf(gone, n)));
        }
    }

    private void clear() {
        for (Entry e : entries.values()) {
            e.present = false;
        }
        presentCount.clear();
        emit(new KvEvent.Cleared(nextEventId));
    }

    private void emit(KvEvent event) {
        nextEventId++;
        eventsEmitted.increment();
        for (KvEventListener l : listeners) {
            try {
                l.onKvEvent(event);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "[worker=" + workerId + "] a KV event listener failed on "
                        + event, e);
            }
        }
    }

    /** Counters so far. */
    public Stats stats() {
        return new Stats(eventsEmitted.sum(), blocksStored.sum(), blocksRemoved.sum(), orphanBlocks.sum(),
                unknownRemovals.sum(), skippedBlocks.sum(), blockSizeMismatches.sum(), unknownEvents.sum());
    }

    /**
     * @param eventsEmitted       Tandem events numbered so far
     * @param blocksStored        blocks announced
     * @param blocksRemoved       blocks retracted on the engine's word
     * @param orphanBlocks        blocks not announced because their parent was unknown
     * @param unknownRemovals     removals of blocks not known to be present
     * @param skippedBlocks       blocks not for plain requests (LoRA, extra keys, other groups)
     * @param blockSizeMismatches BlockStored events of another block size, dropped
     * @param unknownEvents       events of a type this decoder does not know, skipped
     */
    public record Stats(long eventsEmitted, long blocksStored, long blocksRemoved, long orphanBlocks,
                        long unknownRemovals, long skippedBlocks, long blockSizeMismatches, long unknownEvents) {
    }

    /** Checks the invariants in the class notes; for tests. */
    public synchronized void checkInvariants() {
        if (entries.size() > maxTrackedBlocks) {
            throw new IllegalStateException(entries.size() + " entries exceed the bound " + maxTrackedBlocks);
        }
        Map<Long, Integer> expected = new HashMap<>();
        for (Entry e : entries.values()) {
            if (e.present) {
                expected.merge(e.sequenceHash, 1, Integer::sum);
            }
        }
        if (!expected.equals(presentCount)) {
            throw new IllegalStateException("present counts " + presentCount + " disagree with the entries' "
                    + expected);
        }
    }
}
