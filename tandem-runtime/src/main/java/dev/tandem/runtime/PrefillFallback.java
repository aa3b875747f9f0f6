package dev.tandem.runtime;

import dev.tandem.core.Engine;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import java.util.function.BooleanSupplier;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * The one rule for a disaggregated request whose remote prefill did not happen, wherever that is
 * found out: in the frontend (the prefill call failed, timed out, or the worker prefills for
 * nobody) or on the decode worker (no room to import, a handle that does not fit, a failed pull).
 * The client has seen nothing yet, so the decode worker prefills the prompt itself and the client
 * notices only the time it took; when remote prefill is enforced ({@code --enforce-disagg}), the
 * request fails UNAVAILABLE instead (the client gets 503). Callers count the failure's reason in
 * {@code DisaggMetrics} and free what they held (a reservation, a pin) first.
 *
 * <p>Stateless; safe for concurrent use.
 */
public final class PrefillFallback {
    private static final System.Logger LOG = System.getLogger(PrefillFallback.class.getName());

    private PrefillFallback() {
    }

    /**
     * Ends a request whose remote prefill did not happen: fails it when {@code enforced}, ends it
     * as cancelled when {@code cancelled} says so, else submits {@code local} (the request without
     * a remote prefill) to the decode worker's {@code engine}.
     *
     * @param why       what went wrong, for the log and the error ("the pull from p1 failed: ...")
     * @param cancelled read once, just before the submit, under whatever lock the caller holds
     * @return the local request's handle, or null when {@code sink} has already been told the end
     */
    public static RequestHandle prefillLocally(GenerateRequest local, String why, boolean enforced, Engine engine,
                                               String workerId, TokenSink sink, BooleanSupplier cancelled) {
        if (enforced) {
            LOG.log(WARNING, "[req={0}] {1}; remote prefill is enforced: failing the request", local.requestId(), why);
            sink.onError(new RequestException(RequestException.Kind.UNAVAILABLE, "[req=" + local.requestId()
                    + "] remote prefill is enforced (--enforce-disagg) and " + why));
            return null;
        }
        LOG.log(INFO, "[req={0}] {1}; worker {2} prefills locally", local.requestId(), why, workerId);
        if (cancelled.getAsBoolean()) {
            sink.onFinish(FinishReason.CANCELLED, new Usage(local.promptLength(), 0, 0, 0));
            return null;
        }
        try {
            return engine.submit(local, sink);
        } catch (RequestException e) {
            sink.onError(e);
            return null;
        }
    }
}
