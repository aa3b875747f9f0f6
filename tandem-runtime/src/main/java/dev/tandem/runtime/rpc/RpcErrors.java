package dev.tandem.runtime.rpc;

import dev.tandem.core.RequestException;
import dev.tandem.core.TandemException;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

/**
 * How failures cross the request plane.
 *
 * <p>Server side: a {@link RequestException} becomes a gRPC status whose code fits its kind and
 * whose trailers carry the kind ({@value #KIND_HEADER}) and the offending field
 * ({@value #PARAM_HEADER}); any other failure becomes INTERNAL.
 *
 * <p>Client side: a status with a kind trailer is rebuilt into the same RequestException. A status
 * without one came from the transport: DEADLINE_EXCEEDED is {@code TIMEOUT}; a call the caller
 * cancelled is {@code CANCELLED}; UNIMPLEMENTED is {@code UNAVAILABLE} (the worker does not offer
 * the call); every other code (UNAVAILABLE, CANCELLED by the peer, INTERNAL, UNKNOWN: a refused
 * or dropped connection, a peer that reset the stream or died) is {@code WORKER_LOST}, on which
 * a frontend may re-issue the request elsewhere.
 */
final class RpcErrors {
    static final String KIND_HEADER = "tandem-error-kind";
    static final String PARAM_HEADER = "tandem-error-param";
    static final Metadata.Key<String> KIND = Metadata.Key.of(KIND_HEADER, Metadata.ASCII_STRING_MARSHALLER);
    static final Metadata.Key<String> PARAM = Metadata.Key.of(PARAM_HEADER, Metadata.ASCII_STRING_MARSHALLER);

    private RpcErrors() {
    }

    /** Server side: the status to close a call with. */
    static StatusRuntimeException toStatus(Throwable error) {
        Metadata trailers = new Metadata();
        if (error instanceof RequestException re) {
            trailers.put(KIND, re.kind().name());
            if (re.param() != null) {
                trailers.put(PARAM, re.param());
            }
            Status status = switch (re.kind()) {
                case INVALID -> Status.INVALID_ARGUMENT;
                case UNAVAILABLE, WORKER_LOST -> Status.UNAVAILABLE;
                case OVERLOADED -> Status.RESOURCE_EXHAUSTED;
                case CANCELLED -> Status.CANCELLED;
                case TIMEOUT -> Status.DEADLINE_EXCEEDED;
                case INTERNAL -> Status.INTERNAL;
            };
            return status.withDescription(re.getMessage()).asRuntimeException(trailers);
        }
        trailers.put(KIND, RequestException.Kind.INTERNAL.name());
        String message = error instanceof TandemException ? error.getMessage()
                : "worker error: " + error.getClass().getSimpleName() + ": " + error.getMessage();
        return Status.INTERNAL.withDescription(message).asRuntimeException(trailers);
    }

    /**
     * Client side: the exception a failed call surfaces as.
     *
     * @param what   the call and worker, for the message ("generate on worker 10.0.0.5:7001")
     * @param timeoutMs the call's deadline, for the message
     */
    static RequestException fromStatus(Throwable t, String what, long timeoutMs, boolean cancelledByCaller) {
        Status status = Status.fromThrowable(t);
        Metadata trailers = Status.trailersFromThrowable(t);
        String kindName = trailers == null ? null : trailers.get(KIND);
        if (kindName != null) {
            RequestException.Kind kind;
            try {
                kind = RequestException.Kind.valueOf(kindName);
            } catch (IllegalArgumentException e) {
                kind = RequestException.Kind.INTERNAL;
            }
            return new RequestException(kind, status.getDescription() == null ? kindName : status.getDescription(),
                    trailers.get(PARAM), null);
        }
        String detail = status.getCode() + (status.getDescription() == null ? "" : ": " + status.getDescription());
        if (cancelledByCaller && status.getCode() == Status.Code.CANCELLED) {
            return new RequestException(RequestException.Kind.CANCELLED, what + ": cancelled", null, t);
        }
        return switch (status.getCode()) {
            case DEADLINE_EXCEEDED -> new RequestException(RequestException.Kind.TIMEOUT,
                    what + ": no answer within the deadline of " + timeoutMs + " ms", null, t);
            case UNIMPLEMENTED -> new RequestException(RequestException.Kind.UNAVAILABLE,
                    what + ": the worker does not offer this call (" + detail + ")", null, t);
            case OK, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED,
                 FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, DATA_LOSS, UNAUTHENTICATED ->
                    new RequestException(RequestException.Kind.INTERNAL, what + ": " + detail, null, t);
            case UNAVAILABLE, CANCELLED, UNKNOWN, INTERNAL -> new RequestException(RequestException.Kind.WORKER_LOST,
                    what + ": worker lost (" + detail + ")", null, t);
        };
    }
}
