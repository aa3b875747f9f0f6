package dev.tandem.frontend;

import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.runtime.rpc.PrefillService;
import dev.tandem.runtime.rpc.RemoteEngine;
import dev.tandem.core.PrefillResult;
import java.util.concurrent.CompletableFuture;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongSupplier;

/**
 * The frontend's handle on a worker in another process: a {@link RemoteEngine} (every call over
 * the request plane, with its deadline) plus what the frontend already knows without asking.
 *
 * <ul>
 *   <li>{@link #info()} is the answer of the health call that admitted the worker, fixed.</li>
 *   <li>{@link #load()} is the worker's latest load report from the event plane (no RPC), so a
 *       metrics scrape never waits on a slow or dead worker.</li>
 *   <li>A generate that fails with {@link RequestException.Kind#WORKER_LOST} (refused or dropped
 *       connection) tells {@code onLost} before the error reaches the request, so the worker
 *       leaves the worker set at once instead of at the end of its lease.</li>
 *   <li>Running streams are tracked with the time of their last token, so that when the worker
 *       leaves the registry, streams that have stopped moving (a frozen or unreachable worker) can
 *       be failed with WORKER_LOST at once ({@link #abandonStalled}) and migrated, instead of
 *       waiting for the connection's keepalive to fail.</li>
 * </ul>
 *
 * <p>Safe for concurrent use. Does not own the client: {@link #close()} is a no-op, the
 * {@link RemoteWorkers} that made it closes the client when the worker leaves the registry.
 */
final class RemoteWorkerEngine implements Engine, PrefillService {
    private final RemoteEngine client;
    private final EngineInfo info;
    private final Runnable onLost;
    /** Time source of the stall checks, nanoseconds. */
    private final LongSupplier clockNs;
    /** Latest load report; written by an event-bus thread, read by metrics. */
    private volatile LoadReport load;
    /** Streams running on this worker. */
    private final Set<Stream> streams = ConcurrentHashMap.newKeySet();

    RemoteWorkerEngine(RemoteEngine client, EngineInfo info, Runnable onLost) {
        this(client, info, onLost, System::nanoTime);
    }

    RemoteWorkerEngine(RemoteEngine client, EngineInfo info, Runnable onLost, LongSupplier clockNs) {
        this.clockNs = Objects.requireNonNull(clockNs, "clockNs");
        this.client = Objects.requireNonNull(client, "client");
        this.info = Objects.requireNonNull(info, "info");
        this.onLost = Objects.requireNonNull(onLost, "onLost");
        this.load = new LoadReport(info.totalBlocks(), 0, 0, 0, 0, 0, 0, 0);
    }

    RemoteEngine client() {
        return client;
    }

    /** Records a load report received on the event plane. */
    void onLoad(LoadReport report) {
        load = report;
    }

    @Override
    public EngineInfo info() {
        return info;
    }

    @Override
    public RequestHandle submit(GenerateRequest request, TokenSink sink) {
        Stream stream = new Stream(sink);
        streams.add(stream);
        try {
            stream.handle = client.submit(request, stream);
        } catch (RuntimeException e) {
            streams.remove(stream);
            throw e;
        }
        return stream.handle;
    }

    /** Streams running now. */
    int runningStreams() {
        return streams.size();
    }

    /** How long the most stalled running stream has gone without a token, ns (0 if none runs). */
    long longestStallNanos(long nowNs) {
        long longest = 0;
        for (Stream s : streams) {
            longest = Math.max(longest, nowNs - s.lastProgressNs);
        }
        return longest;
    }

    /**
     * Fails every stream that has had no token for {@code stallNanos} with WORKER_LOST (so its
     * request migrates to another worker) and cancels it here. Events that arrive later for such a
     * stream are dropped.
     *
     * @return how many streams were failed
     */
    int abandonStalled(long stallNanos, String why) {
        long now = clockNs.getAsLong();
        int n = 0;
        for (Stream s : streams) {
            if (now - s.lastProgressNs >= stallNanos && s.abandon(why)) {
                n++;
            }
        }
        return n;
    }

    /** One running stream: forwards events to the request's sink until it ends or is abandoned. */
    private final class Stream implements TokenSink {
        final TokenSink sink;
        final AtomicBoolean ended = new AtomicBoolean();
        volatile long lastProgressNs = clockNs.getAsLong();
        volatile RequestHandle handle;

        Stream(TokenSink sink) {
            this.sink = sink;
        }

        @Override
        public void onToken(GeneratedToken token) {
            if (!ended.get()) {
                lastProgressNs = clockNs.getAsLong();
                sink.onToken(token);
            }
        }

        @Override
        public void onFinish(FinishReason reason, Usage usage) {
            if (ended.compareAndSet(false, true)) {
                streams.remove(this);
                sink.onFinish(reason, usage);
            }
        }

        @Override
        public void onError(TandemException error) {
            if (error instanceof RequestException re && re.kind() == RequestException.Kind.WORKER_LOST) {
                onLost.run();
            }
            if (ended.compareAndSet(false, true)) {
                streams.remove(this);
                sink.onError(error);
            }
        }

        boolean abandon(String why) {
            if (!ended.compareAndSet(false, true)) {
                return false;
            }
            streams.remove(this);
            RequestHandle h = handle;
            if (h != null) {
                try {
                    h.cancel();
                } catch (RuntimeException e) {
                    // the connection is going anyway
                }
            }
            sink.onError(new RequestException(RequestException.Kind.WORKER_LOST, why));
            return true;
        }
    }

    /** A prefill on the worker; a lost connection takes the worker out of the set, as for generate. */
    @Override
    public CompletableFuture<PrefillResult> prefill(GenerateRequest request) {
        CompletableFuture<PrefillResult> f = client.prefill(request);
        f.whenComplete((r, error) -> {
            Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
                    ? error.getCause() : error;
            if (cause instanceof RequestException re && re.kind() == RequestException.Kind.WORKER_LOST) {
                onLost.run();
            }
        });
        return f;
    }

    @Override
    public boolean release(long handleId) {
        return client.release(handleId);
    }

    @Override
    public LoadReport load() {
        return load;
    }

    @Override
    public AutoCloseable subscribe(KvEventListener listener) {
        return client.subscribe(listener);
    }

    @Override
    public KvSnapshot kvSnapshot() {
        return client.kvSnapshot();
    }

    @Override
    public void close() {
        // the client belongs to RemoteWorkers
    }

    @Override
    public String toString() {
        return "RemoteWorkerEngine[" + client.address() + "]";
    }
}
