package dev.tandem.runtime.rpc;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.runtime.rpc.proto.Finish;
import dev.tandem.runtime.rpc.proto.GenerateChunk;
import dev.tandem.runtime.rpc.proto.TokenChunk;
import io.grpc.stub.ServerCallStreamObserver;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicInteger;

import static java.lang.System.Logger.Level.DEBUG;

/**
 * One server-side generate stream: the engine's {@link TokenSink} on one end, the gRPC stream
 * on the other.
 *
 * <h2>Design</h2>
 * The engine thread only enqueues (tokens, then one terminal item) and schedules a drain; the
 * drain runs on the server's virtual-thread executor and writes to gRPC. A drain writes all the
 * tokens waiting (up to {@link #MAX_TOKENS_PER_CHUNK}) as one chunk, so tokens are coalesced
 * exactly when the client or the network is slower than the engine, and it stops while gRPC
 * reports the stream not ready (flow control); the on-ready callback resumes it. Cancellation of
 * the call (client cancel, deadline, connection lost) cancels the engine request, which frees its
 * blocks within one engine step.
 *
 * <h2>Concurrency</h2>
 * Sink methods from the engine thread; cancel and ready callbacks from gRPC threads. The drain
 * is single-threaded by the {@code wip} counter (queue-drain pattern), so the stream observer is
 * only ever touched by one thread at a time.
 */
final class ServerGenerateCall implements TokenSink {
    private static final System.Logger LOG = System.getLogger(ServerGenerateCall.class.getName());
    static final int MAX_TOKENS_PER_CHUNK = 64;

    private record Finished(FinishReason reason, Usage usage) {
    }

    private record Failed(TandemException error) {
    }

    private final String requestId;
    private final ServerCallStreamObserver<GenerateChunk> out;
    private final Executor executor;
    private final ConcurrentLinkedQueue<Object> queue = new ConcurrentLinkedQueue<>();
    /** Drain scheduling counter: the thread that moves it from 0 runs the drain. */
    private final AtomicInteger wip = new AtomicInteger();
    /** Set by the engine thread after submit; read by the cancel callback. */
    private volatile RequestHandle handle;
    /** Set by the cancel callback (gRPC thread); read by the drain and the submitting thread. */
    private volatile boolean cancelled;
    private boolean done; // drain only

    ServerGenerateCall(String requestId, ServerCallStreamObserver<GenerateChunk> out, Executor executor) {
        this.requestId = requestId;
        this.out = out;
        this.executor = executor;
        out.setOnCancelHandler(this::onCancelled);
        out.setOnReadyHandler(this::schedule);
    }

    /** Called once the engine accepted the request. */
    void attach(RequestHandle h) {
        handle = h;
        if (cancelled) {
            h.cancel();
        }
    }

    private void onCancelled() {
        cancelled = true;
        RequestHandle h = handle;
        if (h != null) {
            h.cancel();
        }
        LOG.log(DEBUG, "[req={0}] generate call cancelled by the client or its deadline", requestId);
        schedule();
    }

    @Override
    public void onToken(GeneratedToken token) {
        queue.add(token);
        schedule();
    }

    @Override
    public void onFinish(FinishReason reason, Usage usage) {
        queue.add(new Finished(reason, usage));
        schedule();
    }

    @Override
    public void onError(TandemException error) {
        queue.add(new Failed(error));
        schedule();
    }

    private void schedule() {
        if (wip.getAndIncrement() == 0) {
            executor.execute(this::drain);
        }
    }

    private void drain() {
        int missed = 1;
        do {
            try {
                drainOnce();
            } catch (RuntimeException e) {
                // The stream is gone (cancelled under us); make sure the engine stops too.
                done = true;
                queue.clear();
                RequestHandle h = handle;
                if (h != null) {
                    h.cancel();
                }
                LOG.log(DEBUG, "[req=" + requestId + "] stream closed while writing", e);
            }
            missed = wip.addAndGet(-missed);
        } while (missed != 0);
    }

    private void drainOnce() {
        while (!done) {
            if (cancelled) {
                done = true;
                queue.clear();
                return;
            }
            Object head = queue.peek();
            if (head == null) {
                return;
            }
            switch (head) {
                case GeneratedToken ignored -> {
                    if (!out.isReady()) {
                        return; // resumed by the on-ready handler
                    }
                    TokenChunk.Builder chunk = TokenChunk.newBuilder();
                    while (chunk.getTokensCount() < MAX_TOKENS_PER_CHUNK && queue.peek() instanceof GeneratedToken t) {
                        queue.poll();
                        chunk.addTokens(ProtoConvert.toProto(t));
                    }
                    out.onNext(GenerateChunk.newBuilder().setTokens(chunk).build());
                }
                case Finished f -> {
                    queue.poll();
                    out.onNext(GenerateChunk.newBuilder().setFinish(Finish.newBuilder()
                            .setReason(ProtoConvert.toProto(f.reason())).setUsage(ProtoConvert.toProto(f.usage()))).build());
                    out.onCompleted();
                    done = true;
                }
                case Failed f -> {
                    queue.poll();
                    out.onError(RpcErrors.toStatus(f.error()));
                    done = true;
                }
                default -> throw new IllegalStateException("unexpected item " + head);
            }
        }
    }
}
