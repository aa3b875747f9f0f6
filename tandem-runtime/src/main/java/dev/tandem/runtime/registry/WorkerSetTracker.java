package dev.tandem.runtime.registry;

import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * The frontend's view of the live workers, fed by a registry watch.
 *
 * <h2>Design</h2>
 * Every worker of one model must use the same KV block size: the router hashes prompts into
 * blocks of that size and matches them against the workers' KV events. The block size of a
 * model is the configured one when given, otherwise the one of the workers already accepted for
 * it. A worker that disagrees is refused with a warning naming both sizes, and stays out until it
 * registers again with a matching record; it is not reconsidered when the others leave.
 *
 * <h2>Invariants</h2>
 * All accepted workers of a model share one block size; a worker id is never both accepted and
 * refused ({@link #checkInvariants()}).
 *
 * <h2>Concurrency</h2>
 * {@link #onEvent} is called serially by the watch; readers on any thread see an immutable
 * snapshot. The {@link Listener} is called on the watch's thread, after the snapshot changed.
 */
public final class WorkerSetTracker implements RegistryListener {
    private static final System.Logger LOG = System.getLogger(WorkerSetTracker.class.getName());

    /** Told about workers entering and leaving the usable set. Must not block. */
    public interface Listener {
        void onWorkerAdded(WorkerRecord worker);

        void onWorkerRemoved(WorkerRecord worker);
    }

    private final Map<String, Integer> configuredBlockSizes;
    private final Listener listener;
    private final CountDownLatch synced = new CountDownLatch(1);
    private final Map<String, WorkerRecord> refused = new LinkedHashMap<>(); // guarded by this
    /** Accepted workers by instance id; replaced (never mutated) on change, read by any thread. */
    private volatile Map<String, WorkerRecord> accepted = Map.of();

    /**
     * @param configuredBlockSizes block size per model name that workers must use; models not
     *                             listed take the block size of their first accepted worker
     * @param listener             told about changes; may be null
     */
    public WorkerSetTracker(Map<String, Integer> configuredBlockSizes, Listener listener) {
        this.configuredBlockSizes = Map.copyOf(configuredBlockSizes);
        this.listener = listener;
    }

    public WorkerSetTracker() {
        this(Map.of(), null);
    }

    @Override
    public void onEvent(RegistryEvent event) {
        switch (event) {
            case RegistryEvent.Added a -> admit(a.record());
            case RegistryEvent.Removed r -> remove(r.record().instanceId(), true);
            case RegistryEvent.Synced s -> {
                LOG.log(INFO, "worker set synchronised: {0} accepted, {1} refused", accepted.size(), refusedIds().size());
                synced.countDown();
            }
        }
    }

    private void admit(WorkerRecord worker) {
        String id = worker.instanceId();
        WorkerRecord previous = accepted.get(id);
        if (previous != null) {
            // Replaced record: judge the new one as if the old one had left.
            remove(id, false);
        }
        synchronized (this) {
            refused.remove(id);
        }
        int size = worker.layout().blockSizeTokens();
        Integer expected = configuredBlockSizes.get(worker.modelName());
        String reason = "configured for the model";
        if (expected == null) {
            for (WorkerRecord other : accepted.values()) {
                if (other.modelName().equals(worker.modelName())) {
                    expected = other.layout().blockSizeTokens();
                    reason = "used by " + idsOf(worker.modelName());
                    break;
                }
            }
        }
        if (expected != null && expected != size) {
            synchronized (this) {
                refused.put(id, worker);
            }
            LOG.log(WARNING, "[worker={0}] refused: model {1} uses KV block size {2} tokens ({3}) but this worker "
                    + "has {4}; it stays out until it registers again with block size {2}",
                    id, worker.modelName(), expected, reason, size);
            if (previous != null && listener != null) {
                listener.onWorkerRemoved(previous);
            }
            return;
        }
        Map<String, WorkerRecord> next = new LinkedHashMap<>(accepted);
        next.put(id, worker);
        accepted = Map.copyOf(next);
        LOG.log(INFO, "[worker={0}] {1}: {2} {3} at {4}", id, previous == null ? "joined" : "updated",
                worker.role().name().toLowerCase(java.util.Locale.ROOT), worker.modelName(), worker.rpcAddress());
        if (listener != null) {
            if (previous != null) {
                listener.onWorkerRemoved(previous);
            }
            listener.onWorkerAdded(worker);
        }
    }

    private void remove(String id, boolean notify) {
        synchronized (this) {
            refused.remove(id);
        }
        WorkerRecord old = accepted.get(id);
        if (old == null) {
            return;
        }
        Map<String, WorkerRecord> next = new LinkedHashMap<>(accepted);
        next.remove(id);
        accepted = Map.copyOf(next);
        if (notify) {
            LOG.log(INFO, "[worker={0}] left", id);
            if (listener != null) {
                listener.onWorkerRemoved(old);
            }
        }
    }

    private String idsOf(String model) {
        Set<String> ids = new TreeSet<>();
        for (WorkerRecord w : accepted.values()) {
            if (w.modelName().equals(model)) {
                ids.add(w.instanceId());
            }
        }
        return "workers " + ids;
    }

    /** Accepted workers, ordered by instance id. */
    public List<WorkerRecord> workers() {
        List<WorkerRecord> out = new ArrayList<>(accepted.values());
        out.sort(Comparator.comparing(WorkerRecord::instanceId));
        return out;
    }

    /** Accepted workers serving {@code model}, ordered by instance id. */
    public List<WorkerRecord> workers(String model) {
        return workers().stream().filter(w -> w.modelName().equals(model)).toList();
    }

    /** Accepted workers serving {@code model} in {@code role}, ordered by instance id. */
    public List<WorkerRecord> workers(String model, WorkerRole role) {
        return workers(model).stream().filter(w -> w.role() == role).toList();
    }

    public Optional<WorkerRecord> worker(String instanceId) {
        return Optional.ofNullable(accepted.get(instanceId));
    }

    /** Ids of workers refused for a block-size mismatch that are still registered. */
    public synchronized Set<String> refusedIds() {
        return Set.copyOf(refused.keySet());
    }

    /** Waits until the initial set has been delivered; false on timeout. */
    public boolean awaitSynced(long timeoutMs) throws InterruptedException {
        return synced.await(timeoutMs, TimeUnit.MILLISECONDS);
    }

    /** Throws IllegalStateException naming the first violated invariant. */
    public synchronized void checkInvariants() {
        Map<String, Integer> sizes = new LinkedHashMap<>();
        for (WorkerRecord w : accepted.values()) {
            Integer size = sizes.putIfAbsent(w.modelName(), w.layout().blockSizeTokens());
            if (size != null && size != w.layout().blockSizeTokens()) {
                throw new IllegalStateException("model " + w.modelName() + " has accepted block sizes " + size
                        + " and " + w.layout().blockSizeTokens());
            }
            if (refused.containsKey(w.instanceId())) {
                throw new IllegalStateException("worker " + w.instanceId() + " is both accepted and refused");
            }
        }
    }
}
