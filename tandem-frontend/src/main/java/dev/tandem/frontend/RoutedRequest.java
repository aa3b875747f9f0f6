package dev.tandem.frontend;

import java.util.Objects;

/**
 * One routing decision a request holds: the chosen worker, the prompt tokens the router expects
 * it to have cached, and the load the router counted for it. The load is given back exactly once
 * by {@link #close()}, however the request ends (done, error, cancel, client gone, moved to
 * another worker); {@link #firstToken()} gives back its prefill part earlier. Both are idempotent
 * and safe to call from any thread, in any order; the router hears of the prefill's end, if at
 * all, before it hears of the request's end. {@link Load}'s methods run under this decision's lock
 * and must not block.
 *
 * <pre>
 * ROUTED ──firstToken()──▶ PREFILL_DONE ──close()──▶ CLOSED
 *    └──────────────────────close()─────────────────────┘   (the router's finish covers the prefill part)
 * </pre>
 */
public final class RoutedRequest implements AutoCloseable {
    /** What a router gives back for a decision; each method is called at most once. */
    public interface Load {
        /** Counts nothing: for selectors without load accounting. */
        Load NONE = new Load() {
            @Override
            public void prefillDone() {
            }

            @Override
            public void finished() {
            }
        };

        /** The prompt is computed: its prefill tokens no longer load the worker. */
        void prefillDone();

        /** The request ended: everything it counted is given back (its prefill part too, if still held). */
        void finished();
    }

    private static final int ROUTED = 0;
    private static final int PREFILL_DONE = 1;
    private static final int CLOSED = 2;

    private final Worker worker;
    private final int predictedCachedTokens;
    private final Load load;
    private int state = ROUTED; // guarded by this

    /**
     * @param predictedCachedTokens prompt tokens the router expects the worker to have cached (0
     *                              when the policy does not know)
     */
    public RoutedRequest(Worker worker, int predictedCachedTokens, Load load) {
        this.worker = Objects.requireNonNull(worker, "worker");
        this.predictedCachedTokens = predictedCachedTokens;
        this.load = Objects.requireNonNull(load, "load");
    }

    /** A decision nobody counts load for. */
    public static RoutedRequest untracked(Worker worker) {
        return new RoutedRequest(worker, 0, Load.NONE);
    }

    public Worker worker() {
        return worker;
    }

    public int predictedCachedTokens() {
        return predictedCachedTokens;
    }

    /** The worker produced the first token: its prefill is done. No effect after the first call or {@link #close()}. */
    public synchronized void firstToken() {
        if (state == ROUTED) {
            state = PREFILL_DONE;
            load.prefillDone();
        }
    }

    /** Whether {@link #close()} has run. */
    public synchronized boolean closed() {
        return state == CLOSED;
    }

    /** The request no longer runs on the worker: gives the router's load back. Idempotent. */
    @Override
    public synchronized void close() {
        if (state != CLOSED) {
            state = CLOSED;
            load.finished();
        }
    }

    @Override
    public synchronized String toString() {
        return "RoutedRequest[" + worker.id() + ", predicted " + predictedCachedTokens + ", "
                + switch (state) {
                    case ROUTED -> "routed";
                    case PREFILL_DONE -> "prefill done";
                    default -> "closed";
                } + "]";
    }
}
