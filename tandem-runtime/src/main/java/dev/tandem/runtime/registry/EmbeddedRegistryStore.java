package dev.tandem.runtime.registry;

import dev.tandem.core.WorkerRecord;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The in-memory store behind {@link EmbeddedRegistry}: the part etcd plays in a cluster. One per
 * process; each component opens its own {@link EmbeddedRegistry} session on it.
 *
 * <h2>Design</h2>
 * A sorted map from key to (record, lease). A lease belongs to the session that granted it and
 * is kept alive for as long as that session is open: {@link #doWork()} pushes the deadline of
 * every open session's lease to {@code now + ttl}, and deletes the keys of every lease whose
 * session has closed and whose deadline has passed. Time comes from an injected nanosecond clock,
 * so tests advance it by hand and call {@code doWork()}; {@link #startTicker} runs doWork on a
 * daemon thread for production use.
 *
 * <h2>Invariants</h2>
 * Every entry's lease is in {@code leases}; every lease's keys are entries. Watches hear about
 * every change, in order. See {@link #checkInvariants()}.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use: every method takes this object's monitor. Listeners are never called
 * under it (watch events go through each watch's dispatcher).
 */
public final class EmbeddedRegistryStore implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(EmbeddedRegistryStore.class.getName());

    private record Lease(long id, long sessionId, long ttlNanos, Set<String> keys) {
    }

    private record Entry(WorkerRecord record, long leaseId) {
    }

    private final LongSupplier nanoClock;
    private final TreeMap<String, Entry> entries = new TreeMap<>();          // guarded by this
    private final Map<Long, Lease> leases = new HashMap<>();                  // guarded by this
    private final Map<Long, Long> deadlines = new HashMap<>();               // lease id -> deadline ns; guarded by this
    private final Set<Long> openSessions = new HashSet<>();                  // guarded by this
    private final List<WatchState> watches = new ArrayList<>();              // guarded by this
    private long nextId = 1;                                                 // guarded by this
    private Thread ticker;                                                   // guarded by this

    /** @param nanoClock monotonic time in nanoseconds (System::nanoTime in production) */
    public EmbeddedRegistryStore(LongSupplier nanoClock) {
        this.nanoClock = nanoClock;
    }

    /** A store on the system clock with a ticker every {@code periodMs} milliseconds. */
    public static EmbeddedRegistryStore started(long periodMs) {
        EmbeddedRegistryStore store = new EmbeddedRegistryStore(System::nanoTime);
        store.startTicker(periodMs);
        return store;
    }

    /** Runs {@link #doWork()} every {@code periodMs} ms on a daemon thread until {@link #close()}. */
    public synchronized void startTicker(long periodMs) {
        if (ticker != null) {
            return;
        }
        ticker = Thread.ofPlatform().daemon().name("tandem-registry-ticker").start(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    doWork();
                    Thread.sleep(periodMs);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    /**
     * Renews the leases of open sessions and expires the others once past their deadline.
     *
     * @return the number of leases expired
     */
    public synchronized int doWork() {
        long now = nanoClock.getAsLong();
        int expired = 0;
        for (Lease lease : List.copyOf(leases.values())) {
            if (openSessions.contains(lease.sessionId())) {
                deadlines.put(lease.id(), now + lease.ttlNanos());
            } else if (now - deadlines.get(lease.id()) >= 0) {
                LOG.log(System.Logger.Level.INFO, "lease {0} expired, removing {1}", lease.id(), lease.keys());
                revoke(lease.id());
                expired++;
            }
        }
        return expired;
    }

    synchronized long openSession() {
        long id = nextId++;
        openSessions.add(id);
        return id;
    }

    /** The session stops keeping its leases alive; they expire TTL after the last renewal. */
    synchronized void closeSession(long sessionId) {
        openSessions.remove(sessionId);
    }

    synchronized long register(long sessionId, String key, WorkerRecord record, long ttlNanos) {
        if (!openSessions.contains(sessionId)) {
            throw new IllegalStateException("registry session is closed");
        }
        long leaseId = nextId++;
        leases.put(leaseId, new Lease(leaseId, sessionId, ttlNanos, new HashSet<>(Set.of(key))));
        deadlines.put(leaseId, nanoClock.getAsLong() + ttlNanos);
        Entry old = entries.put(key, new Entry(record, leaseId));
        if (old != null) {
            Lease oldLease = leases.get(old.leaseId());
            if (oldLease != null) {
                oldLease.keys().remove(key);
            }
        }
        for (WatchState w : watches) {
            if (w.matches(key)) {
                w.put(key, record);
            }
        }
        return leaseId;
    }

    /** Deletes the lease and its keys. Idempotent. */
    synchronized void revoke(long leaseId) {
        Lease lease = leases.remove(leaseId);
        deadlines.remove(leaseId);
        if (lease == null) {
            return;
        }
        for (String key : lease.keys()) {
            entries.remove(key);
            for (WatchState w : watches) {
                if (w.matches(key)) {
                    w.delete(key);
                }
            }
        }
    }

    synchronized WatchState watch(String prefix, RegistryListener listener) {
        WatchState[] self = new WatchState[1];
        self[0] = new WatchState(prefix, listener, () -> removeWatch(self[0]));
        watches.add(self[0]);
        self[0].resync(current(prefix));
        return self[0];
    }

    private synchronized void removeWatch(WatchState w) {
        watches.remove(w);
    }

    /** Records under {@code prefix}, by key. */
    public synchronized Map<String, WorkerRecord> current(String prefix) {
        Map<String, WorkerRecord> out = new HashMap<>();
        for (var e : entries.tailMap(prefix, true).entrySet()) {
            if (!e.getKey().startsWith(prefix)) {
                break;
            }
            out.put(e.getKey(), e.getValue().record());
        }
        return out;
    }

    /** Checks that entries and leases agree; throws IllegalStateException naming the first violation. */
    public synchronized void checkInvariants() {
        for (var e : entries.entrySet()) {
            Lease lease = leases.get(e.getValue().leaseId());
            if (lease == null || !lease.keys().contains(e.getKey())) {
                throw new IllegalStateException("entry " + e.getKey() + " has no live lease " + e.getValue().leaseId());
            }
        }
        for (Lease lease : leases.values()) {
            for (String key : lease.keys()) {
                Entry entry = entries.get(key);
                if (entry == null || entry.leaseId() != lease.id()) {
                    throw new IllegalStateException("lease " + lease.id() + " lists key " + key + " it does not own");
                }
            }
            if (!deadlines.containsKey(lease.id())) {
                throw new IllegalStateException("lease " + lease.id() + " has no deadline");
            }
        }
    }

    /** Stops the ticker. Entries stay (the store is garbage once nobody holds it). */
    @Override
    public synchronized void close() {
        if (ticker != null) {
            ticker.interrupt();
            ticker = null;
        }
    }

    static long toNanos(java.time.Duration d) {
        return TimeUnit.MILLISECONDS.toNanos(d.toMillis());
    }
}
