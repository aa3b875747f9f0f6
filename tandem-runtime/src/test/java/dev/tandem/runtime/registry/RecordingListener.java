package dev.tandem.runtime.registry;

import dev.tandem.core.WorkerRecord;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Collects a watch's events and the resulting set. */
final class RecordingListener implements RegistryListener {
    private final List<RegistryEvent> events = new ArrayList<>();
    private final Map<String, WorkerRecord> present = new LinkedHashMap<>();

    @Override
    public synchronized void onEvent(RegistryEvent event) {
        events.add(event);
        switch (event) {
            case RegistryEvent.Added a -> present.put(a.key(), a.record());
            case RegistryEvent.Removed r -> present.remove(r.key());
            case RegistryEvent.Synced s -> {
            }
        }
    }

    synchronized List<RegistryEvent> events() {
        return List.copyOf(events);
    }

    /** Instance ids currently present. */
    synchronized List<String> ids() {
        return present.values().stream().map(WorkerRecord::instanceId).sorted().toList();
    }

    synchronized boolean synced() {
        return events.stream().anyMatch(e -> e instanceof RegistryEvent.Synced);
    }

    synchronized long removals(String id) {
        return events.stream().filter(e -> e instanceof RegistryEvent.Removed r && r.record().instanceId().equals(id))
                .count();
    }

    synchronized long additions(String id) {
        return events.stream().filter(e -> e instanceof RegistryEvent.Added a && a.record().instanceId().equals(id))
                .count();
    }
}
