package dev.tandem.worker.upstream;

import dev.tandem.core.KvEvent;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvSnapshot;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * What an upstream server is believed to hold in its prefix cache, published as Tandem KV events,
 * so that the router indexes an external server exactly as it indexes Tandem's own engine (no
 * special case there).
 *
 * <h2>Design</h2>
 * A server without KV events (llama-server, most OpenAI-compatible servers) reports only how many
 * prompt tokens of each answer it served from its cache. The mirror therefore keeps the block
 * sequence hashes of the prompts (and replies) sent to it, least recently used first, bounded by
 * the server's capacity in blocks:
 * <ul>
 *   <li>at submit, the prompt's blocks are stored ({@link KvEvent.Stored} for the new ones) and
 *       touched, and the number of leading blocks believed cached is noted;</li>
 *   <li>at the answer, the server's count corrects the belief: when it served fewer blocks than
 *       believed and the first missing block had been confirmed by an earlier answer, it was
 *       evicted, and an LRU cache that evicted a block has evicted every block used no later than
 *       it, so those are {@link KvEvent.Removed} too (a block only sent, not yet answered, may still
 *       be computing for a concurrent request: nothing is inferred from it); the prompt's and the
 *       reply's full blocks are stored and confirmed (the server keeps them for the next turn);</li>
 *   <li>beyond capacity the least recently used blocks are removed.</li>
 * </ul>
 * A server that publishes its own events (vLLM or SGLang over ZeroMQ) feeds them to
 * {@link #relay}; the mirror then applies them instead of guessing and renumbers them, so the
 * event numbering and {@link #snapshot()} stay one consistent sequence.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use: one lock; listeners are called under it, in event order, and must not
 * block.
 */
final class CacheMirror {
    /** What {@link #beforeRequest} believed, for {@link #afterRequest}. */
    record Ticket(int believedBlocks, long[] priorStamps) {
    }

    private final int capacityBlocks;
    private final boolean approximate;
    /** Sequence hash -> stamp of its last use, least recently used first. */
    private final LinkedHashMap<Long, Long> blocks = new LinkedHashMap<>(16, 0.75f, true);
    /** Blocks an answer has shown the server holds (the others were only sent). */
    private final Set<Long> confirmed = new HashSet<>();
    private final List<KvEventListener> listeners = new CopyOnWriteArrayList<>();
    private long stamp;
    private long nextEventId;

    /**
     * @param capacityBlocks most blocks the server holds, &gt;= 1
     * @param approximate    guess from requests and answers; false when events are {@link #relay}ed
     */
    CacheMirror(int capacityBlocks, boolean approximate) {
        if (capacityBlocks < 1) {
            throw new IllegalArgumentException("capacity must be at least one block, got " + capacityBlocks);
        }
        this.capacityBlocks = capacityBlocks;
        this.approximate = approximate;
    }

    AutoCloseable subscribe(KvEventListener listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    /** Notes and stores a prompt's blocks (sequence and local hashes) about to be sent. */
    synchronized Ticket beforeRequest(long[] promptHashes, long[] promptLocal) {
        int believed = 0;
        while (believed < promptHashes.length && blocks.containsKey(promptHashes[believed])) {
            believed++;
        }
        long[] prior = new long[believed];
        for (int i = 0; i < believed; i++) {
            prior[i] = blocks.get(promptHashes[i]);
        }
        if (approximate) {
            store(promptHashes, promptLocal);
        }
        return new Ticket(believed, prior);
    }

    /**
     * Corrects the belief with what the server reported.
     *
     * @param cachedBlocks  full prompt blocks the server served from its cache
     * @param allHashes     block sequence hashes of the prompt followed by the reply
     * @param allLocal      their local hashes
     */
    synchronized void afterRequest(Ticket ticket, int cachedBlocks, long[] allHashes, long[] allLocal) {
        if (!approximate) {
            return;
        }
        if (cachedBlocks < ticket.believedBlocks() && confirmed.contains(allHashes[cachedBlocks])) {
            long evictedBefore = ticket.priorStamps()[cachedBlocks];
            Set<Long> keep = new HashSet<>();
            for (long h : allHashes) {
                keep.add(h);
            }
            List<Long> gone = new ArrayList<>();
            for (Iterator<Map.Entry<Long, Long>> it = blocks.entrySet().iterator(); it.hasNext(); ) {
                Map.Entry<Long, Long> e = it.next();
                if (e.getValue() <= evictedBefore && !keep.contains(e.getKey()) && confirmed.contains(e.getKey())) {
                    gone.add(e.getKey());
                    it.remove();
                }
            }
            removed(gone);
        }
        store(allHashes, allLocal);
        for (long h : allHashes) {
            if (blocks.containsKey(h)) {
                confirmed.add(h);
            }
        }
    }

    /** Applies one event of the server's own (already in Tandem's hashes), renumbered. */
    synchronized void relay(KvEvent event) {
        switch (event) {
            case KvEvent.Stored s -> store(s.sequenceHashes(), s.localHashes());
            case KvEvent.Removed r -> {
                List<Long> gone = new ArrayList<>();
                for (long h : r.sequenceHashes()) {
                    if (blocks.remove(h) != null) {
                        gone.add(h);
                    }
                }
                removed(gone);
            }
            case KvEvent.Cleared c -> {
                blocks.clear();
                confirmed.clear();
                emit(new KvEvent.Cleared(nextEventId++));
            }
        }
    }

    synchronized KvSnapshot snapshot() {
        long[] hashes = new long[blocks.size()];
        int i = 0;
        for (long h : blocks.keySet()) {
            hashes[i++] = h;
        }
        return new KvSnapshot(nextEventId - 1, hashes);
    }

    synchronized int size() {
        return blocks.size();
    }

    synchronized boolean holds(long hash) {
        return blocks.containsKey(hash);
    }

    int capacityBlocks() {
        return capacityBlocks;
    }

    /** Touches every block of the chain and stores the new ones (one event per contiguous run). */
    private void store(long[] hashes, long[] local) {
        long now = ++stamp;
        int runStart = -1;
        for (int i = 0; i <= hashes.length; i++) {
            boolean isNew = i < hashes.length && !blocks.containsKey(hashes[i]);
            if (i < hashes.length) {
                blocks.put(hashes[i], now);
            }
            if (isNew && runStart < 0) {
                runStart = i;
            } else if (!isNew && runStart >= 0) {
                emit(new KvEvent.Stored(nextEventId++, runStart > 0, runStart > 0 ? hashes[runStart - 1] : 0L,
                        Arrays.copyOfRange(hashes, runStart, i), Arrays.copyOfRange(local, runStart, i)));
                runStart = -1;
            }
        }
        List<Long> evicted = new ArrayList<>();
        for (Iterator<Long> it = blocks.keySet().iterator(); blocks.size() > capacityBlocks && it.hasNext(); ) {
            evicted.add(it.next());
            it.remove();
        }
        removed(evicted);
    }

    private void removed(List<Long> gone) {
        if (gone.isEmpty()) {
            return;
        }
        gone.forEach(confirmed::remove);
        long[] hashes = new long[gone.size()];
        for (int i = 0; i < hashes.length; i++) {
            hashes[i] = gone.get(i);
        }
        emit(new KvEvent.Removed(nextEventId++, hashes));
    }

    private void emit(KvEvent event) {
        for (KvEventListener l : listeners) {
            l.onKvEvent(event);
        }
    }
}
