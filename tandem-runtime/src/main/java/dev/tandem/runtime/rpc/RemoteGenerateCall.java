package dev.tandem.runtime.rpc;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.ProtocolException;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.runtime.rpc.proto.GenerateChunk;
import dev.tandem.runtime.rpc.proto.GenerateRequestMsg;
import dev.tandem.runtime.rpc.proto.TokenMsg;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;

import static java.lang.System.Logger.Level.WARNING;

/**
 * One client-side generate stream: gRPC responses in, {@link TokenSink} calls out.
 *
 * <h2>Design</h2>
 * gRPC calls this observer serially, so the sink sees tokens in order and exactly one terminal
 * call: the worker's Finish, or an error mapped by {@link RpcErrors}. A caller's
 * {@link #cancel()} cancels the gRPC call; the resulting CANCELLED close is turned into
 * {@code onFinish(CANCELLED, usage-so-far)}, on the same serial path, so it cannot overtake a
 * token. A sink that throws has its request cancelled (the TokenSink contract).
 *
 * <h2>Concurrency</h2>
 * Observer methods on gRPC's serialized callback executor; {@link #cancel()} from any thread.
 */
final class RemoteGenerateCall implements ClientResponseObserver<GenerateRequestMsg, GenerateChunk>, RequestHandle {
    private static final System.Logger LOG = System.getLogger(RemoteGenerateCall.class.getName());

    private final GenerateRequest request;
    private final TokenSink sink;
    private final String what;
    private final long timeoutMs;
    private final Runnable onDone;
    /** Set in beforeStart (inside the start call, before submit returns); read by cancel(). */
    private volatile ClientCallStreamObserver<GenerateRequestMsg> call;
    /** Set by cancel() on any thread; read by the callback thread. */
    private volatile boolean cancelledByCaller;
    private int tokensReceived; // callback thread only
    private boolean terminated; // callback thread only

    RemoteGenerateCall(GenerateRequest request, TokenSink sink, String workerAddress, long timeoutMs, Runnable onDone) {
        this.request = request;
        this.sink = sink;
        this.what = "[req=" + request.requestId() + "] generate on worker " + workerAddress;
        this.timeoutMs = timeoutMs;
        this.onDone = onDone;
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<GenerateRequestMsg> requestStream) {
        this.call = requestStream;
    }

    @Override
    public String requestId() {
        return request.requestId();
    }

    @Override
    public void cancel() {
        cancelledByCaller = true;
        ClientCallStreamObserver<GenerateRequestMsg> c = call;
        if (c != null) {
            c.cancel("cancelled by the caller", null);
        }
    }

    @Override
    public void onNext(GenerateChunk chunk) {
        if (terminated) {
            return;
        }
        try {
            switch (chunk.getKindCase()) {
                case TOKENS -> {
                    for (TokenMsg t : chunk.getTokens().getTokensList()) {
                        tokensReceived++;
                        sink.onToken(ProtoConvert.fromProto(t));
                    }
                }
                case FINISH -> {
                    terminated = true;
                    sink.onFinish(ProtoConvert.fromProto(chunk.getFinish().getReason()),
                            ProtoConvert.fromProto(chunk.getFinish().getUsage()));
                    onDone.run();
                }
                case KIND_NOT_SET -> throw new ProtocolException("worker sent an empty generate chunk");
            }
        } catch (ProtocolException e) {
            terminate(new RequestException(RequestException.Kind.INTERNAL, what + ": " + e.getMessage(), null, e));
            cancelQuietly();
        } catch (RuntimeException e) {
            LOG.log(WARNING, what + ": token sink failed; cancelling the request", e);
            cancelledByCaller = true;
            cancelQuietly();
        }
    }

    @Override
    public void onError(Throwable t) {
        if (terminated) {
            return;
        }
        RequestException e = RpcErrors.fromStatus(t, what + " after " + tokensReceived + " tokens", timeoutMs,
                cancelledByCaller);
        if (e.kind() == RequestException.Kind.CANCELLED && cancelledByCaller) {
            terminated = true;
            safely(() -> sink.onFinish(FinishReason.CANCELLED,
                    new Usage(request.promptLength(), 0, 0, tokensReceived)));
            onDone.run();
        } else {
            terminate(e);
        }
    }

    @Override
    public void onCompleted() {
        if (!terminated) {
            terminate(new RequestException(RequestException.Kind.WORKER_LOST,
                    what + ": stream ended without a finish message after " + tokensReceived + " tokens"));
        }
    }

    private void terminate(RequestException e) {
        terminated = true;
        safely(() -> sink.onError(e));
        onDone.run();
    }

    private void cancelQuietly() {
        ClientCallStreamObserver<GenerateRequestMsg> c = call;
        if (c != null) {
            c.cancel("client-side failure", null);
        }
    }

    private void safely(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            LOG.log(WARNING, what + ": token sink failed on its final call", e);
        }
    }
}
