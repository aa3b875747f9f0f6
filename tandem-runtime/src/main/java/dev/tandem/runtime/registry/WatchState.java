package dev.tandem.runtime.registry;

import dev.tandem.core.WorkerRecord;
import dev.tandem.runtime.SerialDispatcher;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What one watch has told its listener so far, so that a resync after a lost connection reports
 * only the difference, and a repeated put of an unchanged record reports nothing.
 *
 * <h2>Invariants</h2>
 * {@code known} equals the set the listener has been told about (Added minus Removed). Events
 * are queued on the dispatcher while holding this object's lock, so their order matches the
 * order of the state changes.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use (every mutator takes this object's monitor).
 */
final class WatchState implements RegistryWatch {
    private final String prefix;
    private final RegistryListener listener;
    private final SerialDispatcher dispatcher;
    private final Map<String, WorkerRecord> known = new HashMap<>(); // guarded by this
    private boolean synced; // guarded by this
    private boolean closed; // guarded by this
    private final Runnable onClose;

    WatchState(String prefix, RegistryListener listener, Runnable onClose) {
        this.prefix = prefix;
        this.listener = Objects.requireNonNull(listener, "listener");
        this.dispatcher = new SerialDispatcher("tandem-registry-watch", Integer.MAX_VALUE);
        this.onClose = onClose;
    }

    String prefix() {
        return prefix;
    }

    boolean matches(String key) {
        return key.startsWith(prefix);
    }

    /** Replaces the known set with {@code current} (records under the prefix), reporting the difference. */
    synchronized void resync(Map<String, WorkerRecord> current) {
        if (closed) {
            return;
        }
        for (var it = known.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (!current.containsKey(e.getKey())) {
                it.remove();
                emit(new RegistryEvent.Removed(e.getKey(), e.getValue()));
            }
        }
        current.forEach(this::putLocked);
        if (!synced) {
            synced = true;
            emit(new RegistryEvent.Synced(known.size()));
        }
    }

    synchronized void put(String key, WorkerRecord record) {
        if (!closed) {
            putLocked(key, record);
        }
    }

    synchronized void delete(String key) {
        if (closed) {
            return;
        }
        WorkerRecord old = known.remove(key);
        if (old != null) {
            emit(new RegistryEvent.Removed(key, old));
        }
    }

    synchronized int knownCount() {
        return known.size();
    }

    private void putLocked(String key, WorkerRecord record) {
        WorkerRecord old = known.put(key, record);
        if (!record.equals(old)) {
            emit(new RegistryEvent.Added(key, record));
        }
    }

    private void emit(RegistryEvent event) {
        dispatcher.submit(() -> listener.onEvent(event));
    }

    synchronized boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        dispatcher.close();
        onClose.run();
    }
}
