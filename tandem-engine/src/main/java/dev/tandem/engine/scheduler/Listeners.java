package dev.tandem.engine.scheduler;

import dev.tandem.core.KvEvent;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.LoadReport;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The engine's KV event and load listeners. Subscribing and unsubscribing are safe from any
 * thread; publishing happens on the engine thread, and a listener that throws is logged and
 * skipped so it cannot corrupt the scheduler's state.
 */
final class Listeners {
    private static final System.Logger LOG = System.getLogger(Listeners.class.getName());

    private final String engineName;
    private final CopyOnWriteArrayList<KvEventListener> kv = new CopyOnWriteArrayList<>();
    private final CopyOnWriteArrayList<Consumer<LoadReport>> load = new CopyOnWriteArrayList<>();

    Listeners(String engineName) {
        this.engineName = engineName;
    }

    AutoCloseable subscribeKv(KvEventListener listener) {
        kv.add(listener);
        return () -> kv.remove(listener);
    }

    AutoCloseable subscribeLoad(Consumer<LoadReport> listener) {
        load.add(listener);
        return () -> load.remove(listener);
    }

    void publish(KvEvent event) {
        for (KvEventListener l : kv) {
            try {
                l.onKvEvent(event);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "engine " + engineName + ": KV event listener failed on " + event, e);
            }
        }
    }

    void publish(LoadReport report) {
        for (Consumer<LoadReport> l : load) {
            try {
                l.accept(report);
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.WARNING, "engine " + engineName + ": load listener failed", e);
            }
        }
    }
}
