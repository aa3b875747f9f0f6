package dev.tandem.frontend;

import dev.tandem.core.ConfigException;
import dev.tandem.core.WorkerRole;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The workers the frontend currently knows. Workers join (started in this process, or found in
 * the registry) and leave at any time; readers see a consistent snapshot.
 *
 * <p>Safe for concurrent use: a copy-on-write list, since reads (one per request) vastly
 * outnumber changes.
 */
public final class WorkerSet {
    private static final System.Logger LOG = System.getLogger(WorkerSet.class.getName());

    private final CopyOnWriteArrayList<Worker> workers = new CopyOnWriteArrayList<>();
    private final CopyOnWriteArrayList<Listener> listeners = new CopyOnWriteArrayList<>();

    /** Told when workers join and leave (for routers and metrics). Called on the changing thread. */
    public interface Listener {
        void added(Worker worker);

        void removed(Worker worker);
    }

    /**
     * Adds a worker. A worker whose block size differs from the other workers of its model is
     * refused: the router's block hashes would not match its cache.
     */
    public void add(Worker worker) {
        synchronized (workers) {
            for (Worker w : workers) {
                if (w.id().equals(worker.id())) {
                    throw new ConfigException("duplicate worker id '" + worker.id() + "'");
                }
                if (w.modelName().equals(worker.modelName()) && w.blockSizeTokens() != worker.blockSizeTokens()) {
                    throw new ConfigException("worker '" + worker.id() + "' has block size " + worker.blockSizeTokens()
                            + " but the workers of model '" + worker.modelName() + "' use " + w.blockSizeTokens());
                }
            }
            workers.add(worker);
        }
        LOG.log(System.Logger.Level.INFO, "worker {0} joined: model={1} role={2} blocks={3}",
                worker.id(), worker.modelName(), worker.role(), worker.info().totalBlocks());
        for (Listener l : listeners) {
            l.added(worker);
        }
    }

    /** Removes a worker; returns false if it was not there. */
    public boolean remove(String workerId) {
        Worker gone = null;
        synchronized (workers) {
            for (Worker w : workers) {
                if (w.id().equals(workerId)) {
                    gone = w;
                    workers.remove(w);
                    break;
                }
            }
        }
        if (gone == null) {
            return false;
        }
        LOG.log(System.Logger.Level.INFO, "worker {0} left", workerId);
        for (Listener l : listeners) {
            l.removed(gone);
        }
        return true;
    }

    /** Workers of {@code model} that take whole requests (aggregated or decode). */
    public List<Worker> servingModel(String model) {
        // a loop, not a stream: this runs once per request
        List<Worker> out = new ArrayList<>(workers.size());
        for (Worker w : workers) {
            if (w.modelName().equals(model) && w.role() != WorkerRole.PREFILL) {
                out.add(w);
            }
        }
        return out;
    }

    /** Prefill workers of {@code model}: they compute prompts for decode workers. */
    public List<Worker> prefillingModel(String model) {
        List<Worker> out = new ArrayList<>(2);
        for (Worker w : workers) {
            if (w.modelName().equals(model) && w.role() == WorkerRole.PREFILL) {
                out.add(w);
            }
        }
        return out;
    }

    /** Every worker, in join order. */
    public List<Worker> all() {
        return List.copyOf(workers);
    }

    /** Registers a listener and tells it about the workers already present. */
    public void addListener(Listener listener) {
        listeners.add(listener);
        for (Worker w : workers) {
            listener.added(w);
        }
    }
}
