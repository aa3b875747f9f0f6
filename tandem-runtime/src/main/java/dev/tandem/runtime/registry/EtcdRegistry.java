package dev.tandem.runtime.registry;

import dev.tandem.core.ConfigException;
import dev.tandem.core.ProtocolException;
import dev.tandem.core.TandemException;
import dev.tandem.core.WorkerRecord;
import dev.tandem.runtime.RuntimeConfig;
import io.etcd.jetcd.ByteSequence;
import io.etcd.jetcd.Client;
import io.etcd.jetcd.KeyValue;
import io.etcd.jetcd.Watch;
import io.etcd.jetcd.common.exception.ErrorCode;
import io.etcd.jetcd.common.exception.EtcdException;
import io.etcd.jetcd.kv.GetResponse;
import io.etcd.jetcd.options.GetOption;
import io.etcd.jetcd.options.PutOption;
import io.etcd.jetcd.options.WatchOption;
import io.etcd.jetcd.watch.WatchEvent;
import io.etcd.jetcd.watch.WatchResponse;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.LongAdder;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * A {@link Registry} on etcd (v3 API, through jetcd).
 *
 * <h2>Design</h2>
 * <ul>
 *   <li><b>Register</b>: grant a lease of {@code ceil(ttl)} seconds, put the record's JSON
 *       ({@link WorkerRecordCodec}) under its key with that lease.</li>
 *   <li><b>Keep alive</b>: every TTL/3 a single keep-alive request on the registry's scheduler
 *       thread, each with a deadline. If etcd answers that the lease is gone (it expired while we
 *       could not reach etcd, or someone revoked it) the record is registered again under a new
 *       lease. If etcd cannot be reached the loop keeps trying; the lease survives an etcd restart
 *       (etcd extends leases when a leader takes over) and the loop simply resumes.</li>
 *   <li><b>Watch</b>: read the prefix (records + revision), report the difference to the
 *       listener, then watch from {@code revision + 1}. On any watch error (connection lost,
 *       compaction) the jetcd watcher is closed and the read-then-watch is redone with back-off
 *       until it succeeds, so no change between the two is missed and only the difference is
 *       reported ({@link WatchState}).</li>
 *   <li>Every etcd call has a deadline ({@code registryTimeoutMs}); calls fail fast while
 *       disconnected instead of queueing (jetcd's wait-for-ready is off).</li>
 * </ul>
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. Keep-alives and watch resyncs run on one daemon scheduler thread;
 * jetcd delivers watch responses on its own threads, and listeners run on each watch's dispatcher.
 *
 * <h2>References</h2>
 * Dynamo's etcd transport (lease per instance, keep-alive, prefix watch); etcd's lease and watch
 * API documentation (etcd.io/docs/v3.4/learning/api).
 */
public final class EtcdRegistry implements Registry {
    private static final System.Logger LOG = System.getLogger(EtcdRegistry.class.getName());

    private final Client client;
    private final String endpoints;
    private final String namespace;
    private final Duration defaultTtl;
    private final long timeoutMs;
    private final ScheduledExecutorService scheduler;
    private final Set<EtcdRegistration> registrations = ConcurrentHashMap.newKeySet();
    private final Set<EtcdWatch> watches = ConcurrentHashMap.newKeySet();
    /** Leases found lost (expired or revoked) while registered, over every registration. */
    private final LongAdder leaseLosses = new LongAdder();
    /** Set once by close(); read by the scheduler and jetcd threads. */
    private volatile boolean closed;

    private EtcdRegistry(Client client, String endpoints, RuntimeConfig config) {
        this.client = client;
        this.endpoints = endpoints;
        this.namespace = config.namespace();
        this.defaultTtl = config.leaseTtl();
        this.timeoutMs = config.registryTimeoutMs();
        this.scheduler = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().daemon().name("tandem-etcd-registry").factory());
    }

    /**
     * Connects and checks that etcd answers within the deadline.
     *
     * @param endpoints {@code etcd://host:port} or {@code http://host:port}, comma-separated for
     *                  several members
     * @throws ConfigException  if the endpoint list is malformed
     * @throws TandemException  if etcd does not answer
     */
    public static EtcdRegistry connect(String endpoints, RuntimeConfig config) {
        List<URI> uris = parseEndpoints(endpoints);
        Client client = Client.builder()
                .endpoints(uris)
                .connectTimeout(Duration.ofMillis(config.registryTimeoutMs()))
                .waitForReady(false)
                .keepaliveTime(Duration.ofSeconds(10))
                .keepaliveTimeout(Duration.ofSeconds(5))
                .build();
        EtcdRegistry registry = new EtcdRegistry(client, endpoints, config);
        try {
            registry.await(client.getKVClient().get(bytes(RegistryKeys.ROOT),
                    GetOption.builder().withCountOnly(true).build()), "reach etcd");
        } catch (TandemException e) {
            registry.close();
            throw e;
        }
        LOG.log(INFO, "connected to etcd at {0}, namespace {1}", endpoints, config.namespace());
        return registry;
    }

    static List<URI> parseEndpoints(String endpoints) {
        if (endpoints == null || endpoints.isBlank()) {
            throw new ConfigException("etcd endpoint list is empty (expected etcd://host:port)");
        }
        List<URI> out = new ArrayList<>();
        for (String part : endpoints.split(",")) {
            String s = part.trim();
            if (s.startsWith("etcd://")) {
                s = "http://" + s.substring("etcd://".length());
            } else if (!s.startsWith("http://")) {
                throw new ConfigException("etcd endpoint '" + part.trim()
                        + "' must start with etcd:// or http:// (TLS to etcd is not supported)");
            }
            URI uri = URI.create(s);
            if (uri.getHost() == null || uri.getPort() < 1) {
                throw new ConfigException("etcd endpoint '" + part.trim() + "' needs a host and a port");
            }
            out.add(uri);
        }
        return out;
    }

    @Override
    public String namespace() {
        return namespace;
    }

    @Override
    public Registration register(WorkerRecord record) {
        return register(record, defaultTtl);
    }

    @Override
    public Registration register(WorkerRecord record, Duration ttl) {
        checkOpen();
        if (ttl.isNegative() || ttl.isZero()) {
            throw new IllegalArgumentException("lease TTL must be positive, got " + ttl);
        }
        EtcdRegistration r = new EtcdRegistration(RegistryKeys.instanceKey(namespace, record), record, ttl);
        r.registerNow();
        long periodMs = Math.max(100, ttl.toMillis() / 3);
        r.task = scheduler.scheduleWithFixedDelay(r::tick, periodMs, periodMs, TimeUnit.MILLISECONDS);
        registrations.add(r);
        LOG.log(INFO, "[worker={0}] registered at {1} (lease {2}, ttl {3} s)", record.instanceId(), r.key,
                Long.toHexString(r.leaseId), r.ttlSeconds);
        return r;
    }

    @Override
    public RegistryWatch watch(String prefix, RegistryListener listener) {
        checkOpen();
        EtcdWatch w = new EtcdWatch(prefix, listener);
        watches.add(w);
        try {
            w.syncOnce();
        } catch (TandemException e) {
            w.close();
            throw e;
        }
        return w;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (EtcdRegistration r : registrations) {
            r.stopKeepAlive();
        }
        for (EtcdWatch w : watches) {
            w.close();
        }
        scheduler.shutdownNow();
        client.close();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("registry is closed");
        }
    }

    /** Waits for an etcd call within the deadline; failures become TandemException naming {@code what}. */
    private <T> T await(CompletableFuture<T> call, String what) {
        try {
            return call.get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            call.cancel(true);
            throw new TandemException("etcd at " + endpoints + ": cannot " + what + " within " + timeoutMs + " ms");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new TandemException("etcd at " + endpoints + ": cannot " + what + ": " + cause.getMessage(), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TandemException("interrupted while trying to " + what, e);
        }
    }

    private static boolean leaseNotFound(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof EtcdException ee && ee.getErrorCode() == ErrorCode.NOT_FOUND) {
                return true;
            }
            if (c.getMessage() != null && c.getMessage().contains("requested lease not found")) {
                return true;
            }
        }
        return false;
    }

    private static ByteSequence bytes(String s) {
        return ByteSequence.from(s, StandardCharsets.UTF_8);
    }

    /** Leases this registry found lost (expired or revoked) and registered again, since it connected. */
    public long leaseLosses() {
        return leaseLosses.sum();
    }

    /**
     * One registered record and its lease. The keep-alive loop ({@link #tick}) and close run
     * under this object's monitor, so a close never races a re-registration.
     */
    private final class EtcdRegistration implements Registration {
        private final String key;
        private final WorkerRecord record;
        private final long ttlSeconds;
        private final ByteSequence keyBytes;
        private final ByteSequence valueBytes;
        /** Current lease; written by the scheduler thread on re-registration, read by close(). */
        private volatile long leaseId;
        /** Assigned once after the first registration; cancelled by close(). */
        private volatile ScheduledFuture<?> task;
        private boolean needsRegister; // guarded by this
        private boolean failing;       // guarded by this
        private boolean closed;        // guarded by this

        EtcdRegistration(String key, WorkerRecord record, Duration ttl) {
            this.key = key;
            this.record = record;
            this.ttlSeconds = Math.max(1, (ttl.toMillis() + 999) / 1000);
            this.keyBytes = bytes(key);
            this.valueBytes = ByteSequence.from(WorkerRecordCodec.encode(record));
        }

        @Override
        public String key() {
            return key;
        }

        @Override
        public WorkerRecord record() {
            return record;
        }

        synchronized void registerNow() {
            long lease = await(client.getLeaseClient().grant(ttlSeconds), "grant a lease for " + key).getID();
            await(client.getKVClient().put(keyBytes, valueBytes, PutOption.builder().withLeaseId(lease).build()),
                    "register " + key);
            leaseId = lease;
        }

        synchronized void tick() {
            if (closed || EtcdRegistry.this.closed) {
                return;
            }
            try {
                if (needsRegister) {
                    registerNow();
                    needsRegister = false;
                    LOG.log(WARNING, "[worker={0}] registered again at {1} under lease {2}", record.instanceId(),
                            key, Long.toHexString(leaseId));
                } else {
                    await(client.getLeaseClient().keepAliveOnce(leaseId), "renew lease " + Long.toHexString(leaseId));
                }
                if (failing) {
                    failing = false;
                    LOG.log(INFO, "[worker={0}] etcd reachable again; lease {1} alive", record.instanceId(),
                            Long.toHexString(leaseId));
                }
            } catch (TandemException e) {
                if (!needsRegister && leaseNotFound(e)) {
                    needsRegister = true;
                    leaseLosses.increment();
                    LOG.log(WARNING, "[worker={0}] lease {1} was lost (expired or revoked); registering again",
                            record.instanceId(), Long.toHexString(leaseId));
                    tick();
                } else if (!failing) {
                    failing = true;
                    LOG.log(WARNING, "[worker={0}] {1}; retrying every {2} ms", record.instanceId(), e.getMessage(),
                            Math.max(100, ttlSeconds * 1000 / 3));
                }
            }
        }

        /** Stops renewing without revoking (the lease runs out). */
        synchronized void stopKeepAlive() {
            closed = true;
            ScheduledFuture<?> t = task;
            if (t != null) {
                t.cancel(false);
            }
        }

        @Override
        public void close() {
            synchronized (this) {
                if (closed) {
                    return;
                }
                stopKeepAlive();
            }
            registrations.remove(this);
            try {
                await(client.getLeaseClient().revoke(leaseId), "revoke lease " + Long.toHexString(leaseId));
                LOG.log(INFO, "[worker={0}] deregistered from {1}", record.instanceId(), key);
            } catch (TandemException e) {
                LOG.log(WARNING, "[worker={0}] {1}; the record expires within {2} s", record.instanceId(),
                        e.getMessage(), ttlSeconds);
            }
        }
    }

    /** One prefix watch: read, then watch from the next revision; redo both after any error. */
    private final class EtcdWatch implements RegistryWatch {
        private final ByteSequence prefixBytes;
        private final WatchState state;
        private Watch.Watcher watcher;   // guarded by this
        /**
         * Incremented (under this object's monitor) per watcher; jetcd callbacks carrying an older
         * value are stale. Volatile so that callbacks can drop stale calls without taking the monitor
         * (jetcd calls onError while holding its own lock; taking ours there could deadlock).
         */
        private volatile long generation;
        private int failures;            // guarded by this

        EtcdWatch(String prefix, RegistryListener listener) {
            this.prefixBytes = bytes(prefix);
            this.state = new WatchState(prefix, listener, () -> {
                watches.remove(this);
                stopWatcher();
            });
        }

        /** Reads the prefix, reports the difference, and starts a watch from the next revision. */
        void syncOnce() {
            GetResponse response = await(client.getKVClient().get(prefixBytes, GetOption.builder().isPrefix(true).build()),
                    "read " + state.prefix());
            Map<String, dev.tandem.core.WorkerRecord> current = new HashMap<>();
            for (KeyValue kv : response.getKvs()) {
                String key = kv.getKey().toString(StandardCharsets.UTF_8);
                WorkerRecord r = decode(key, kv.getValue().getBytes());
                if (r != null) {
                    current.put(key, r);
                }
            }
            long revision = response.getHeader().getRevision();
            synchronized (this) {
                if (state.isClosed()) {
                    return;
                }
                state.resync(current);
                long gen = ++generation;
                WatchOption option = WatchOption.builder().isPrefix(true).withRevision(revision + 1).build();
                watcher = client.getWatchClient().watch(prefixBytes, option,
                        Watch.listener(resp -> onNext(gen, resp), t -> onError(gen, t)));
            }
        }

        private void onNext(long gen, WatchResponse response) {
            synchronized (this) {
                if (gen != generation) {
                    return;
                }
                for (WatchEvent event : response.getEvents()) {
                    String key = event.getKeyValue().getKey().toString(StandardCharsets.UTF_8);
                    switch (event.getEventType()) {
                        case PUT -> {
                            WorkerRecord r = decode(key, event.getKeyValue().getValue().getBytes());
                            if (r == null) {
                                state.delete(key);
                            } else {
                                state.put(key, r);
                            }
                        }
                        case DELETE -> state.delete(key);
                        case UNRECOGNIZED -> LOG.log(WARNING, "unrecognised watch event for {0}", key);
                    }
                }
            }
        }

        private void onError(long gen, Throwable t) {
            if (gen != generation) {
                return;
            }
            try {
                scheduler.execute(() -> handleError(gen, t));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // the registry is closing
            }
        }

        private void handleError(long gen, Throwable t) {
            synchronized (this) {
                if (gen != generation || state.isClosed()) {
                    return;
                }
                generation++;
                stopWatcher();
                LOG.log(WARNING, "watch on {0} interrupted ({1}); resynchronising", state.prefix(), t.getMessage());
            }
            scheduleResync(0);
        }

        private void scheduleResync(long delayMs) {
            if (closed || state.isClosed()) {
                return;
            }
            try {
                scheduler.schedule(this::resync, delayMs, TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.RejectedExecutionException e) {
                // the registry is closing
            }
        }

        private void resync() {
            if (closed || state.isClosed()) {
                return;
            }
            try {
                syncOnce();
                synchronized (this) {
                    if (failures > 0) {
                        LOG.log(INFO, "watch on {0} resumed after {1} attempts", state.prefix(), failures);
                    }
                    failures = 0;
                }
            } catch (TandemException e) {
                long delay;
                synchronized (this) {
                    failures++;
                    delay = Math.min(2_000, 100L << Math.min(failures, 5));
                    if (failures == 1) {
                        LOG.log(WARNING, "watch on {0}: {1}; retrying", state.prefix(), e.getMessage());
                    }
                }
                scheduleResync(delay);
            }
        }

        private synchronized void stopWatcher() {
            if (watcher != null) {
                Watch.Watcher w = watcher;
                watcher = null;
                w.close();
            }
        }

        @Override
        public void close() {
            state.close();
        }

        private WorkerRecord decode(String key, byte[] value) {
            try {
                return WorkerRecordCodec.decode(value, key);
            } catch (ProtocolException e) {
                LOG.log(WARNING, "ignoring {0}", e.getMessage());
                return null;
            }
        }
    }
}
