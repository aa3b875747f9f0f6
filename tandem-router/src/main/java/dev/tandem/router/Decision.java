package dev.tandem.router;

import dev.tandem.core.WorkerRole;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The outcome of routing one request: a worker was chosen ({@link Routed}), or none could be
 * ({@link Rejected}: the frontend answers 503 or queues the request and retries).
 */
public sealed interface Decision permits Decision.Routed, Decision.Rejected {

    String requestId();

    /** Why no worker was chosen. */
    enum Reason {
        /** No worker serves the requested pool. */
        NO_WORKERS,
        /** Every candidate is past a busy threshold (KV usage or queued prefill). */
        ALL_BUSY,
        /** The request named a worker that is not registered in its pool. */
        UNKNOWN_WORKER
    }

    /**
     * No worker was chosen.
     *
     * @param message a sentence naming the request and the cause, for logs and error bodies
     */
    record Rejected(String requestId, Reason reason, String message) implements Decision {
    }

    /**
     * A worker was chosen. Reports the predicted overlap so the frontend can compare it with the
     * cached tokens the worker actually reports. A decision made by {@link Router#route} is
     * tracked: call {@link Router#prefillDone} at the first token and {@link Router#finished}
     * at the end (both idempotent); one made by {@link Router#preview} is not.
     */
    final class Routed implements Decision {
        static final int UNTRACKED = 0;
        static final int ROUTED = 1;
        static final int PREFILL_DONE = 2;
        static final int FINISHED = 3;

        private final String requestId;
        private final String workerId;
        private final WorkerRole role;
        private final int overlapBlocks;
        private final int overlapTokens;
        private final int requestBlocks;
        private final int promptTokens;
        private final double cost;
        private final String policy;
        private final boolean approximate;
        final WorkerLoad worker;
        /** Prompt tokens the worker must compute (not cached): taken back at prefill done. */
        final long prefillTokens;
        /** Blocks the request occupies on the worker: taken back when it finishes. */
        final long activeBlocks;
        /** UNTRACKED, ROUTED, PREFILL_DONE or FINISHED; moves forward only. */
        final AtomicInteger state;

        Routed(String requestId, WorkerLoad worker, int overlapBlocks, int blockSize, int requestBlocks, int promptTokens,
               double cost, String policy, boolean approximate, boolean tracked) {
            this.requestId = requestId;
            this.worker = worker;
            this.workerId = worker.id;
            this.role = worker.role;
            this.overlapBlocks = overlapBlocks;
            this.overlapTokens = overlapBlocks * blockSize;
            this.requestBlocks = requestBlocks;
            this.promptTokens = promptTokens;
            this.cost = cost;
            this.policy = policy;
            this.approximate = approximate;
            this.prefillTokens = Math.max(0, promptTokens - overlapTokens);
            this.activeBlocks = (promptTokens + blockSize - 1) / blockSize;
            this.state = new AtomicInteger(tracked ? ROUTED : UNTRACKED);
        }

        @Override
        public String requestId() {
            return requestId;
        }

        public String workerId() {
            return workerId;
        }

        public WorkerRole role() {
            return role;
        }

        /** Leading prompt blocks predicted to be cached on the chosen worker. */
        public int overlapBlocks() {
            return overlapBlocks;
        }

        /** overlapBlocks * block size: the cached prompt tokens the worker should report. */
        public int overlapTokens() {
            return overlapTokens;
        }

        /** Full blocks in the prompt (hashed blocks). */
        public int requestBlocks() {
            return requestBlocks;
        }

        public int promptTokens() {
            return promptTokens;
        }

        /** The chosen worker's KV cost {@code overlapWeight * prefillBlocks + decodeBlocks}. */
        public double cost() {
            return cost;
        }

        /** Configuration name of the policy that chose ("direct" when the request named the worker). */
        public String policy() {
            return policy;
        }

        /** True if the worker's overlap came from the router's own record (no KV events). */
        public boolean approximate() {
            return approximate;
        }

        /** True if made by {@link Router#route} and so counted in the worker's load. */
        public boolean tracked() {
            return state.get() != UNTRACKED;
        }

        @Override
        public String toString() {
            return "Routed[" + requestId + " -> " + workerId + " (" + role + "), overlap=" + overlapBlocks + "/"
                    + requestBlocks + " blocks, cost=" + cost + ", policy=" + policy
                    + (approximate ? ", approximate" : "") + "]";
        }
    }
}
