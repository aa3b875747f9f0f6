package dev.tandem.runtime.events;

import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** Collects what a {@link WorkerEventSubscriber} delivers. */
final class RecordingEvents implements WorkerEventSubscriber.Listener {
    private final List<Long> eventIds = new ArrayList<>();
    private final List<Integer> batchSizes = new ArrayList<>();
    final Map<String, LoadReport> loads = new ConcurrentHashMap<>();

    @Override
    public synchronized void onKvEvents(String workerId, List<KvEvent> events) {
        batchSizes.add(events.size());
        for (KvEvent e : events) {
            eventIds.add(e.eventId());
        }
    }

    @Override
    public void onLoad(String workerId, LoadReport report) {
        loads.put(workerId, report);
    }

    synchronized List<Long> eventIds() {
        return List.copyOf(eventIds);
    }

    synchronized List<Integer> batchSizes() {
        return List.copyOf(batchSizes);
    }

    static List<Long> range(long from, long toExclusive) {
        List<Long> out = new ArrayList<>();
        for (long i = from; i < toExclusive; i++) {
            out.add(i);
        }
        return out;
    }
}
