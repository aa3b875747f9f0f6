package dev.tandem.frontend;

import dev.tandem.core.Engine;
import dev.tandem.core.WorkerRecord;
import dev.tandem.runtime.registry.WorkerSetTracker;
import java.util.Objects;

/**
 * Keeps a {@link WorkerSet} in step with the registry: a worker whose record appears (and passes
 * the tracker's block-size check) is connected and joins; one whose record goes away (stopped,
 * crashed, lease lapsed) leaves at once, so no new request is routed to it.
 *
 * <p>Called on the registry watch's thread, serially.
 */
public final class RegistryWorkers implements WorkerSetTracker.Listener {
    private static final System.Logger LOG = System.getLogger(RegistryWorkers.class.getName());

    /** Turns a registry record into an engine the frontend can call. */
    public interface Connector {
        /**
         * An engine for the worker: the in-process one in {@code tandem serve}, a remote client
         * otherwise. May return null when the worker cannot be reached (it then stays out).
         */
        Engine connect(WorkerRecord record);

        /** The worker left; release what {@link #connect} made (a remote client). */
        default void disconnect(Worker worker) {
        }
    }

    private final WorkerSet workers;
    private final Connector connector;

    public RegistryWorkers(WorkerSet workers, Connector connector) {
        this.workers = Objects.requireNonNull(workers, "workers");
        this.connector = Objects.requireNonNull(connector, "connector");
    }

    @Override
    public void onWorkerAdded(WorkerRecord record) {
        try {
            Engine engine = connector.connect(record);
            if (engine == null) {
                LOG.log(System.Logger.Level.WARNING, "[worker={0}] registered but cannot be reached; left out",
                        record.instanceId());
                return;
            }
            workers.add(new Worker(record.instanceId(), record.role(), engine));
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "[worker={0}] could not join: {1}", record.instanceId(), e.getMessage());
        }
    }

    @Override
    public void onWorkerRemoved(WorkerRecord record) {
        Worker gone = workers.all().stream().filter(w -> w.id().equals(record.instanceId())).findFirst().orElse(null);
        if (workers.remove(record.instanceId()) && gone != null) {
            connector.disconnect(gone);
        }
    }
}
