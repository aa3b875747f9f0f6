package dev.tandem.runtime.rpc;

import dev.tandem.core.ConfigException;
import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.ProtocolException;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.core.WorkerRecord;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EventBus;
import dev.tandem.runtime.events.EventCodec;
import dev.tandem.runtime.events.EventSubscription;
import dev.tandem.runtime.events.Subjects;
import dev.tandem.runtime.events.WorkerEventMessage;
import dev.tandem.runtime.rpc.proto.HealthRequest;
import dev.tandem.runtime.rpc.proto.HealthResponse;
import dev.tandem.runtime.rpc.proto.KvSnapshotRequest;
import dev.tandem.runtime.rpc.proto.KvSnapshotResponse;
import dev.tandem.runtime.rpc.proto.LoadResponse;
import dev.tandem.runtime.rpc.proto.LoadRequest;
import dev.tandem.runtime.rpc.proto.PrefillResponse;
import dev.tandem.runtime.rpc.proto.ReleaseRequest;
import dev.tandem.runtime.rpc.proto.WorkerGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import static java.lang.System.Logger.Level.WARNING;

/**
 * A worker on another process or host, used exactly like a local {@link Engine}: the client side
 * of the request plane.
 *
 * <h2>Design</h2>
 * One HTTP/2 connection per worker (a gRPC channel; it connects lazily and reconnects by itself).
 * Every call has a deadline from {@link RuntimeConfig}: {@code rpcGenerateTimeoutMs} for a whole
 * generate stream (overridable per call), {@code rpcPrefillTimeoutMs} for prefill,
 * {@code rpcCallTimeoutMs} for the others; HTTP/2 keep-alive pings ({@code rpcKeepAliveMs},
 * at least 10 s in gRPC) detect a peer that vanished without closing its socket.
 *
 * <p>Differences from a local engine, all visible in types:
 * <ul>
 *   <li>{@link #submit} never throws for a request the worker refuses: the refusal arrives as
 *       {@code onError} on the sink (a RequestException of the same kind).</li>
 *   <li>A lost worker (refused connection, connection dropped mid-stream, process killed) is
 *       {@code onError(RequestException(WORKER_LOST))}: the frontend may re-issue the prompt plus
 *       the tokens already received elsewhere.</li>
 *   <li>{@link #subscribe} needs the event bus: KV events travel on the event plane, not here.</li>
 *   <li>{@link #load()} and {@link #kvSnapshot()} are one round trip each.</li>
 *   <li>{@link #close()} cancels this client's running requests and closes the connection; it
 *       does not stop the remote worker.</li>
 * </ul>
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. Sinks are called on gRPC callback threads (virtual threads), serially
 * per request.
 */
public final class RemoteEngine implements Engine, PrefillService {
    private static final System.Logger LOG = System.getLogger(RemoteEngine.class.getName());

    private final String address;
    private final String workerId;
    private final RuntimeConfig config;
    private final EventBus bus;
    private final ManagedChannel channel;
    private final ExecutorService callbacks;
    private final WorkerGrpc.WorkerStub async;
    private final WorkerGrpc.WorkerBlockingStub blocking;
    private final Set<RemoteGenerateCall> running = ConcurrentHashMap.newKeySet();
    /** Fetched on first use, then fixed (a worker's engine does not change). Racy init is harmless. */
    private volatile EngineInfo info;

    private RemoteEngine(String address, String workerId, RuntimeConfig config, EventBus bus) {
        this.address = address;
        this.workerId = workerId;
        this.config = config;
        this.bus = bus;
        this.callbacks = Executors.newVirtualThreadPerTaskExecutor();
        NettyChannelBuilder builder = NettyChannelBuilder.forTarget(address)
                .executor(callbacks)
                .withOption(ChannelOption.TCP_NODELAY, true)
                .withOption(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(config.rpcCallTimeoutMs(), 30_000))
                .maxInboundMessageSize(config.rpcMaxMessageBytes())
                .keepAliveTime(config.rpcKeepAliveMs(), TimeUnit.MILLISECONDS)
                .keepAliveTimeout(config.rpcKeepAliveMs(), TimeUnit.MILLISECONDS);
        if (config.clientTls()) {
            try {
                builder.sslContext(GrpcSslContexts.forClient()
                        .trustManager(PemFiles.certificates(config.tlsTrustCertPath())).build());
            } catch (IOException | IllegalArgumentException | ConfigException e) {
                callbacks.shutdownNow();
                throw new ConfigException("cannot use TLS trust certificates " + config.tlsTrustCertPath() + ": "
                        + e.getMessage(), e);
            }
        } else {
            builder.usePlaintext();
        }
        this.channel = builder.build();
        this.async = WorkerGrpc.newStub(channel);
        this.blocking = WorkerGrpc.newBlockingStub(channel);
    }

    /**
     * A client for the worker at {@code host:port}. Does not connect yet; the first call does.
     * Without an event bus, {@link #subscribe} is unavailable.
     */
    public static RemoteEngine connect(String address, RuntimeConfig config) {
        return new RemoteEngine(address, null, config, null);
    }

    /** A client for a registered worker; KV events are read from {@code bus} (may be null). */
    public static RemoteEngine connect(WorkerRecord worker, RuntimeConfig config, EventBus bus) {
        return new RemoteEngine(worker.rpcAddress(), worker.instanceId(), config, bus);
    }

    /** The worker's request-plane address. */
    public String address() {
        return address;
    }

    @Override
    public EngineInfo info() {
        EngineInfo i = info;
        if (i == null) {
            i = health().info();
        }
        return i;
    }

    /** Asks the worker whether it serves; one round trip with the call deadline. */
    public HealthStatus health() {
        return health(Duration.ofMillis(config.rpcCallTimeoutMs()));
    }

    /** Asks the worker whether it serves; one round trip within {@code timeout}. */
    public HealthStatus health(Duration timeout) {
        HealthResponse r = unary("health", timeout.toMillis(), s -> s.health(HealthRequest.getDefaultInstance()));
        EngineInfo i = ProtoConvert.fromProto(r.getInfo());
        info = i;
        return new HealthStatus(r.getServing(), i);
    }

    @Override
    public RequestHandle submit(GenerateRequest request, TokenSink sink) {
        return submit(request, sink, Duration.ofMillis(config.rpcGenerateTimeoutMs()));
    }

    /** Submits with a deadline for the whole stream. */
    public RequestHandle submit(GenerateRequest request, TokenSink sink, Duration timeout) {
        RemoteGenerateCall[] self = new RemoteGenerateCall[1];
        RemoteGenerateCall call = new RemoteGenerateCall(request, sink, address, timeout.toMillis(),
                () -> running.remove(self[0]));
        self[0] = call;
        running.add(call);
        async.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .generate(ProtoConvert.toProto(request), call);
        return call;
    }

    /** Requests currently streaming from this worker through this client. */
    public int runningRequests() {
        return running.size();
    }

    @Override
    public LoadReport load() {
        LoadResponse r = unary("load", s -> s.load(LoadRequest.getDefaultInstance()));
        return ProtoConvert.fromProto(r);
    }

    @Override
    public KvSnapshot kvSnapshot() {
        KvSnapshotResponse r = unary("kvSnapshot", s -> s.kvSnapshot(KvSnapshotRequest.getDefaultInstance()));
        return ProtoConvert.fromProto(r);
    }

    /**
     * The snapshot without blocking the caller (a router's snapshot requester must not block):
     * completes with the snapshot, or with a RequestException after the call deadline.
     */
    public CompletableFuture<KvSnapshot> kvSnapshotAsync() {
        CompletableFuture<KvSnapshot> result = new CompletableFuture<>();
        long timeoutMs = config.rpcCallTimeoutMs();
        async.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS).kvSnapshot(KvSnapshotRequest.getDefaultInstance(),
                new io.grpc.stub.StreamObserver<>() {
                    @Override
                    public void onNext(KvSnapshotResponse value) {
                        result.complete(ProtoConvert.fromProto(value));
                    }

                    @Override
                    public void onError(Throwable t) {
                        result.completeExceptionally(RpcErrors.fromStatus(t, "kvSnapshot on worker " + address,
                                timeoutMs, false));
                    }

                    @Override
                    public void onCompleted() {
                        result.completeExceptionally(new RequestException(RequestException.Kind.WORKER_LOST,
                                "kvSnapshot on worker " + address + ": no response"));
                    }
                });
        return result;
    }

    /**
     * KV events of this worker, read from the event plane. The listener runs on an event-bus thread.
     *
     * @throws IllegalStateException without an event bus or a worker id
     */
    @Override
    public AutoCloseable subscribe(KvEventListener listener) {
        if (bus == null || workerId == null) {
            throw new IllegalStateException("KV events of worker " + address
                    + " travel on the event plane: connect with its WorkerRecord and an EventBus");
        }
        EventSubscription sub = bus.subscribe(Subjects.kv(config.namespace(), workerId), (subject, payload) -> {
            try {
                if (EventCodec.decode(payload) instanceof WorkerEventMessage.KvEventBatch b) {
                    for (KvEvent e : b.events()) {
                        listener.onKvEvent(e);
                    }
                }
            } catch (ProtocolException e) {
                LOG.log(WARNING, "[worker={0}] dropping undecodable KV events: {1}", workerId, e.getMessage());
            }
        });
        return sub::close;
    }

    @Override
    public CompletableFuture<PrefillResult> prefill(GenerateRequest request) {
        CompletableFuture<PrefillResult> result = new CompletableFuture<>();
        long timeoutMs = config.rpcPrefillTimeoutMs();
        String what = "[req=" + request.requestId() + "] prefill on worker " + address;
        ClientResponseObserver<dev.tandem.runtime.rpc.proto.GenerateRequestMsg, PrefillResponse> observer =
                new ClientResponseObserver<>() {
                    @Override
                    public void beforeStart(ClientCallStreamObserver<dev.tandem.runtime.rpc.proto.GenerateRequestMsg> rs) {
                        result.whenComplete((r, t) -> {
                            if (result.isCancelled()) {
                                rs.cancel("prefill cancelled by the caller", null);
                            }
                        });
                    }

                    @Override
                    public void onNext(PrefillResponse value) {
                        try {
                            result.complete(ProtoConvert.fromProto(value));
                        } catch (ProtocolException e) {
                            result.completeExceptionally(new RequestException(RequestException.Kind.INTERNAL,
                                    what + ": " + e.getMessage(), null, e));
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        result.completeExceptionally(RpcErrors.fromStatus(t, what, timeoutMs, result.isCancelled()));
                    }

                    @Override
                    public void onCompleted() {
                        result.completeExceptionally(new RequestException(RequestException.Kind.WORKER_LOST,
                                what + ": no response"));
                    }
                };
        async.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS).prefill(ProtoConvert.toProto(request), observer);
        return result;
    }

    @Override
    public boolean release(long handleId) {
        return unary("release " + handleId,
                s -> s.release(ReleaseRequest.newBuilder().setHandleId(handleId).build())).getReleased();
    }

    private <T> T unary(String what, Function<WorkerGrpc.WorkerBlockingStub, T> call) {
        return unary(what, config.rpcCallTimeoutMs(), call);
    }

    private <T> T unary(String what, long timeoutMs, Function<WorkerGrpc.WorkerBlockingStub, T> call) {
        try {
            return call.apply(blocking.withDeadlineAfter(timeoutMs, TimeUnit.MILLISECONDS));
        } catch (StatusRuntimeException e) {
            throw RpcErrors.fromStatus(e, what + " on worker " + address, timeoutMs, false);
        }
    }

    /** Cancels this client's running requests (their sinks get CANCELLED) and closes the connection. */
    @Override
    public void close() {
        for (RemoteGenerateCall call : running) {
            call.cancel();
        }
        channel.shutdown();
        try {
            if (!channel.awaitTermination(2, TimeUnit.SECONDS)) {
                channel.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            channel.shutdownNow();
        }
        callbacks.shutdown();
    }
}
