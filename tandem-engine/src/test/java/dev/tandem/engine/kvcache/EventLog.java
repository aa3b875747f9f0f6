package dev.tandem.engine.kvcache;

import dev.tandem.core.KvEvent;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvSnapshot;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Test listener: records KV events and replays them into the set of hashes a router would hold. */
public final class EventLog implements KvEventListener {
    public final List<KvEvent> events = new ArrayList<>();

    @Override
    public synchronized void onKvEvent(KvEvent event) {
        events.add(event);
    }

    public synchronized List<KvEvent> copy() {
        return new ArrayList<>(events);
    }

    /** Replays events 0..lastEventId (which must be numbered without gaps) from empty. */
    public static long[] replay(List<KvEvent> events, long lastEventId) {
        Set<Long> held = new HashSet<>();
        long expected = events.isEmpty() ? 0 : events.getFirst().eventId();
        for (KvEvent e : events) {
            if (e.eventId() != expected) {
                throw new AssertionError("event numbering gap: expected " + expected + " got " + e.eventId());
            }
            expected++;
            if (e.eventId() > lastEventId) {
                break;
            }
            switch (e) {
                case KvEvent.Stored s -> {
                    if (s.hasParent() && !held.contains(s.parentHash())) {
                        // allowed: the parent may have been evicted before its child
                    }
                    for (long h : s.sequenceHashes()) {
                        if (!held.add(h)) {
                            throw new AssertionError("hash stored twice without removal: " + Long.toHexString(h));
                        }
                    }
                }
                case KvEvent.Removed r -> {
                    for (long h : r.sequenceHashes()) {
                        if (!held.remove(h)) {
                            throw new AssertionError("removed hash was not stored: " + Long.toHexString(h));
                        }
                    }
                }
                case KvEvent.Cleared c -> held.clear();
            }
        }
        return held.stream().mapToLong(Long::longValue).sorted().toArray();
    }

    public static long[] sorted(KvSnapshot snapshot) {
        long[] s = snapshot.sequenceHashes().clone();
        Arrays.sort(s);
        return s;
    }
}
