package dev.tandem.router;

import dev.tandem.core.KvEvent;
import dev.tandem.core.KvSnapshot;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The truth about one worker's prefix cache for router tests: the set of block hashes it holds
 * and the numbered events that describe every change, as an engine would emit them.
 */
final class SimWorker {
    final String id;
    final Set<Long> held = new LinkedHashSet<>();
    private long nextEventId;

    SimWorker(String id) {
        this.id = id;
    }

    /** Stores the blocks not yet held (in order); returns the event, or null if nothing new. */
    KvEvent.Stored store(long[] chain) {
        List<Long> fresh = new ArrayList<>();
        for (long h : chain) {
            if (held.add(h)) {
                fresh.add(h);
            }
        }
        if (fresh.isEmpty()) {
            return null;
        }
        long[] hashes = fresh.stream().mapToLong(Long::longValue).toArray();
        return new KvEvent.Stored(nextEventId++, false, 0, hashes, hashes.clone());
    }

    /** Removes those of {@code hashes} that are held; null if none is. */
    KvEvent.Removed remove(long[] hashes) {
        List<Long> gone = new ArrayList<>();
        for (long h : hashes) {
            if (held.remove(h)) {
                gone.add(h);
            }
        }
        if (gone.isEmpty()) {
            return null;
        }
        return new KvEvent.Removed(nextEventId++, gone.stream().mapToLong(Long::longValue).toArray());
    }

    KvEvent.Cleared clear() {
        held.clear();
        return new KvEvent.Cleared(nextEventId++);
    }

    KvSnapshot snapshot() {
        return new KvSnapshot(nextEventId - 1, held.stream().mapToLong(Long::longValue).toArray());
    }

    /** Leading blocks of {@code hashes} this worker holds. */
    int depth(long[] hashes) {
        int d = 0;
        while (d < hashes.length && held.contains(hashes[d])) {
            d++;
        }
        return d;
    }
}
