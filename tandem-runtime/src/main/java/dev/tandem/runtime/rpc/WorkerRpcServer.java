package dev.tandem.runtime.rpc;

import dev.tandem.core.ConfigException;
import dev.tandem.core.Engine;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.RequestException;
import dev.tandem.core.TandemException;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.rpc.proto.GenerateChunk;
import dev.tandem.runtime.rpc.proto.GenerateRequestMsg;
import dev.tandem.runtime.rpc.proto.HealthRequest;
import dev.tandem.runtime.rpc.proto.HealthResponse;
import dev.tandem.runtime.rpc.proto.KvSnapshotRequest;
import dev.tandem.runtime.rpc.proto.KvSnapshotResponse;
import dev.tandem.runtime.rpc.proto.LoadRequest;
import dev.tandem.runtime.rpc.proto.LoadResponse;
import dev.tandem.runtime.rpc.proto.PrefillResponse;
import dev.tandem.runtime.rpc.proto.ReleaseRequest;
import dev.tandem.runtime.rpc.proto.ReleaseResponse;
import dev.tandem.runtime.rpc.proto.WorkerGrpc;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * Serves one {@link Engine} (and optionally a {@link PrefillService}) on the request plane:
 * gRPC over HTTP/2, the {@code tandem.v1.Worker} service of {@code worker.proto}.
 *
 * <h2>Design</h2>
 * Every call runs on a virtual thread (the server executor), so unary calls may block on the
 * engine. Generate streams are bridged by {@link ServerGenerateCall}. Deadlines set by clients
 * reach the server with the call; when one passes, or the client cancels, or the connection
 * drops, gRPC cancels the call and the engine request is cancelled with it.
 *
 * <p>TLS is optional: with {@code tlsCertChainPath} and {@code tlsPrivateKeyPath} set in
 * {@link RuntimeConfig} the server speaks TLS only (HTTP/2 over TLS with ALPN, JDK provider);
 * clients then need {@code tlsTrustCertPath}. Without them the port is plaintext HTTP/2, meant
 * for a trusted network. TCP_NODELAY is on, so each token leaves at once.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use.
 */
public final class WorkerRpcServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(WorkerRpcServer.class.getName());

    private final Server server;
    private final ExecutorService executor;
    private final String host;
    /** Cleared by {@link #drain()} (any thread); read by health calls. */
    private volatile boolean serving = true;

    private WorkerRpcServer(Server server, ExecutorService executor, String host) {
        this.server = server;
        this.executor = executor;
        this.host = host;
    }

    /**
     * Binds and starts.
     *
     * @param host    address to bind ("0.0.0.0" for all interfaces)
     * @param port    port, 0 for any free port
     * @param prefill may be null: Prefill and Release then answer UNAVAILABLE
     * @throws ConfigException if the port cannot be bound or the TLS files are unusable
     */
    public static WorkerRpcServer start(String host, int port, Engine engine, PrefillService prefill,
                                        RuntimeConfig config) {
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        WorkerRpcServer[] self = new WorkerRpcServer[1];
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                .executor(executor)
                .withChildOption(ChannelOption.TCP_NODELAY, true)
                .maxInboundMessageSize(config.rpcMaxMessageBytes())
                .keepAliveTime(config.rpcKeepAliveMs(), TimeUnit.MILLISECONDS)
                .keepAliveTimeout(config.rpcKeepAliveMs(), TimeUnit.MILLISECONDS)
                .permitKeepAliveTime(1, TimeUnit.SECONDS)
                .permitKeepAliveWithoutCalls(true)
                .addService(new Service(engine, prefill, executor, () -> self[0].serving));
        if (config.serverTls()) {
            try {
                builder.sslContext(GrpcSslContexts.configure(SslContextBuilder.forServer(
                        PemFiles.privateKey(config.tlsPrivateKeyPath()),
                        PemFiles.certificates(config.tlsCertChainPath()))).build());
            } catch (IOException | IllegalArgumentException | ConfigException e) {
                executor.shutdownNow();
                throw new ConfigException("cannot use TLS certificate " + config.tlsCertChainPath() + " and key "
                        + config.tlsPrivateKeyPath() + ": " + e.getMessage(), e);
            }
        }
        Server server = builder.build();
        try {
            server.start();
        } catch (IOException e) {
            executor.shutdownNow();
            throw new ConfigException("cannot listen for RPC on " + host + ":" + port + ": " + e.getMessage(), e);
        }
        self[0] = new WorkerRpcServer(server, executor, host);
        LOG.log(INFO, "request plane listening on {0}:{1} ({2}), model {3}", host, Integer.toString(server.getPort()),
                config.serverTls() ? "TLS" : "plaintext", engine.info().modelName());
        return self[0];
    }

    /** The bound port. */
    public int port() {
        return server.getPort();
    }

    /** {@code host:port} as bound. */
    public String address() {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + port();
    }

    /** Health answers "not serving" from now on; running calls continue. */
    public void drain() {
        serving = false;
    }

    /**
     * Stops accepting calls, gives running calls up to {@code graceMs} to finish, then cancels
     * them (which cancels their engine requests).
     */
    public void shutdown(long graceMs) {
        serving = false;
        server.shutdown();
        try {
            if (!server.awaitTermination(graceMs, TimeUnit.MILLISECONDS)) {
                server.shutdownNow();
                server.awaitTermination(2, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
        executor.shutdownNow();
    }

    /** Cancels running calls at once and stops. Idempotent. */
    @Override
    public void close() {
        shutdown(0);
    }

    private static final class Service extends WorkerGrpc.WorkerImplBase {
        private final Engine engine;
        private final PrefillService prefill;
        private final ExecutorService executor;
        private final Supplier<Boolean> serving;

        Service(Engine engine, PrefillService prefill, ExecutorService executor, Supplier<Boolean> serving) {
            this.engine = engine;
            this.prefill = prefill;
            this.executor = executor;
            this.serving = serving;
        }

        @Override
        public void generate(GenerateRequestMsg msg, StreamObserver<GenerateChunk> observer) {
            ServerCallStreamObserver<GenerateChunk> out = (ServerCallStreamObserver<GenerateChunk>) observer;
            try {
                GenerateRequest request = ProtoConvert.fromProto(msg);
                ServerGenerateCall call = new ServerGenerateCall(request.requestId(), out, executor);
                call.attach(engine.submit(request, call));
            } catch (RuntimeException e) {
                fail(out, e, msg.getRequestId());
            }
        }

        @Override
        public void prefill(GenerateRequestMsg msg, StreamObserver<PrefillResponse> observer) {
            ServerCallStreamObserver<PrefillResponse> out = (ServerCallStreamObserver<PrefillResponse>) observer;
            if (prefill == null) {
                fail(out, new RequestException(RequestException.Kind.UNAVAILABLE,
                        "worker serving " + engine.info().modelName() + " does not prefill for other workers"), msg.getRequestId());
                return;
            }
            try {
                CompletableFuture<PrefillResult> future = prefill.prefill(ProtoConvert.fromProto(msg));
                out.setOnCancelHandler(() -> future.cancel(true));
                future.whenComplete((result, error) -> {
                    if (error == null && out.isCancelled()) {
                        // the caller went away (or its deadline passed) as the prefill finished:
                        // nobody will pull these blocks, so do not leave them pinned until the TTL
                        releaseUnsent(result, msg.getRequestId());
                    } else if (error == null) {
                        try {
                            out.onNext(ProtoConvert.toProto(result));
                            out.onCompleted();
                        } catch (RuntimeException e) {
                            releaseUnsent(result, msg.getRequestId());
                            fail(out, e, msg.getRequestId());
                        }
                    } else if (!(unwrap(error) instanceof CancellationException)) {
                        fail(out, unwrap(error), msg.getRequestId());
                    }
                });
            } catch (RuntimeException e) {
                fail(out, e, msg.getRequestId());
            }
        }

        private void releaseUnsent(PrefillResult result, String requestId) {
            try {
                prefill.release(result.handle().handleId());
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.INFO, "[req={0}] releasing unsent handle {1} failed ({2}); it expires by "
                        + "itself", requestId, result.handle().handleId(), e.getMessage());
            }
        }

        @Override
        public void release(ReleaseRequest msg, StreamObserver<ReleaseResponse> out) {
            if (prefill == null) {
                fail(out, new RequestException(RequestException.Kind.UNAVAILABLE,
                        "worker serving " + engine.info().modelName() + " holds no prefill handles"),
                        "release " + msg.getHandleId());
                return;
            }
            unary(out, "release " + msg.getHandleId(),
                    () -> ReleaseResponse.newBuilder().setReleased(prefill.release(msg.getHandleId())).build());
        }

        @Override
        public void kvSnapshot(KvSnapshotRequest msg, StreamObserver<KvSnapshotResponse> out) {
            unary(out, "kvSnapshot", () -> ProtoConvert.toProto(engine.kvSnapshot()));
        }

        @Override
        public void health(HealthRequest msg, StreamObserver<HealthResponse> out) {
            unary(out, "health", () -> HealthResponse.newBuilder().setServing(serving.get())
                    .setInfo(ProtoConvert.toProto(engine.info())).build());
        }

        @Override
        public void load(LoadRequest msg, StreamObserver<LoadResponse> out) {
            unary(out, "load", () -> ProtoConvert.toProto(engine.load()));
        }

        private static <T> void unary(StreamObserver<T> out, String what, Supplier<T> body) {
            T response;
            try {
                response = body.get();
            } catch (RuntimeException e) {
                fail(out, e, what);
                return;
            }
            out.onNext(response);
            out.onCompleted();
        }

        private static Throwable unwrap(Throwable t) {
            return t instanceof CompletionException && t.getCause() != null ? t.getCause() : t;
        }

        private static void fail(StreamObserver<?> out, Throwable error, String context) {
            if (!(error instanceof TandemException)) {
                LOG.log(WARNING, "[req=" + context + "] unexpected failure serving a call", error);
            }
            try {
                out.onError(RpcErrors.toStatus(error));
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "[req=" + context + "] call already closed", e);
            }
        }
    }
}
