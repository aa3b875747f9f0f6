package dev.tandem.runtime.transfer;

import dev.tandem.core.TransferKind;
import java.lang.foreign.MemorySegment;

/**
 * {@link TransferKind#LOCAL}: both pools are in this JVM, a pull is one
 * {@link MemorySegment#copy} per coalesced run.
 *
 * <h2>Design</h2>
 * The source pool is found by name in a {@link LocalPools} hub. No thread, no buffer: the
 * pulling thread copies straight from the source pool into the destination pool.
 *
 * <h2>Invariants</h2>
 * The source pool's real layout (not only the advertised one) is checked against the
 * destination before the first copy; block ids are checked against both pools' sizes.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. The serving engine keeps the source blocks pinned (unchanged) for the
 * handle's lifetime; nothing here locks. If the source pool is closed during a copy, the copy
 * throws and the pull fails as {@link TransferFailure#PEER_FAILED}.
 *
 * <h2>References</h2>
 * NIXL's "local" backend plays the same role in Dynamo (a memcpy between registered regions).
 */
public final class LocalTransport implements KvTransport {
    private final LocalPools pools;
    private final TransferListener listener;

    public LocalTransport(LocalPools pools, TransferListener listener) {
        this.pools = pools;
        this.listener = listener;
    }

    @Override
    public TransferKind kind() {
        return TransferKind.LOCAL;
    }

    @Override
    public TransferResult pull(PullSource source, int[] sourceBlocks, KvMemory destination, int[] destinationBlocks,
                               Deadline deadline) {
        long startNanos = System.nanoTime();
        KvMemory pool = pools.find(source.endpoint());
        PullPlan plan = PullPlan.prepare(kind(), source, sourceBlocks,
                pool == null ? Integer.MAX_VALUE : pool.blockCount(), destination, destinationBlocks, deadline);
        if (plan.failure() != null) {
            return TransferListener.report(listener, plan.failure());
        }
        if (pool == null) {
            return TransferListener.report(listener, new TransferResult.Failed(kind(), TransferFailure.UNREACHABLE,
                    "no pool " + source.endpoint() + " in this JVM", null));
        }
        String mismatch = PullPlan.layoutMismatch(pool.layout(), destination.layout());
        if (mismatch != null) {
            return TransferListener.report(listener, new TransferResult.Failed(kind(), TransferFailure.LAYOUT_MISMATCH,
                    "pool " + source.endpoint() + " is not laid out as advertised: " + mismatch, null));
        }
        try {
            if (!BlockRuns.copy(plan.runs(), destination.blockBytes(), pool.memory(), destination.memory(), deadline)) {
                return TransferListener.report(listener, new TransferResult.Failed(kind(),
                        TransferFailure.DEADLINE, "deadline passed during copy from " + source.endpoint(), null));
            }
        } catch (IllegalStateException e) {
            return TransferListener.report(listener, new TransferResult.Failed(kind(), TransferFailure.PEER_FAILED,
                    "source pool " + source.endpoint() + " closed during copy: " + e.getMessage(), e));
        }
        return TransferListener.report(listener, new TransferResult.Done(kind(), plan.bytes(), plan.blocks(),
                plan.runs().size(), System.nanoTime() - startNanos));
    }

    @Override
    public void close() {
    }
}
