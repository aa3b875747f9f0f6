package dev.tandem.runtime.transfer;

import dev.tandem.core.TransferKind;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Counters per transport kind, for export to Prometheus by the worker or frontend
 * ({@code tandem_kv_transfer_bytes_total{transport="tcp"}} and so on). Safe for concurrent use:
 * every counter is a {@link LongAdder}, read without a consistent cut (each value is exact, the
 * set of values may be from slightly different instants).
 */
public final class TransferMetrics implements TransferListener {
    /**
     * Totals for one transport kind.
     *
     * @param pulls         pulls completed successfully
     * @param failures      pulls failed, by reason
     * @param bytes         payload bytes pulled
     * @param blocks        blocks pulled
     * @param seconds       wall time of successful pulls
     * @param servedBytes   payload bytes served to pullers
     * @param servedBlocks  blocks served to pullers
     */
    public record Snapshot(TransferKind kind, long pulls, Map<TransferFailure, Long> failures, long bytes, long blocks,
                           double seconds, long servedBytes, long servedBlocks) {
        public Snapshot {
            failures = Map.copyOf(failures);
        }

        /** Failed pulls of every reason. */
        public long failureCount() {
            return failures.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    private static final class Counters {
        final LongAdder pulls = new LongAdder();
        final LongAdder bytes = new LongAdder();
        final LongAdder blocks = new LongAdder();
        final LongAdder nanos = new LongAdder();
        final LongAdder servedBytes = new LongAdder();
        final LongAdder servedBlocks = new LongAdder();
        final EnumMap<TransferFailure, LongAdder> failures = new EnumMap<>(TransferFailure.class);

        Counters() {
            for (TransferFailure f : TransferFailure.values()) {
                failures.put(f, new LongAdder());
            }
        }
    }

    private final EnumMap<TransferKind, Counters> counters = new EnumMap<>(TransferKind.class);

    public TransferMetrics() {
        for (TransferKind k : TransferKind.values()) {
            counters.put(k, new Counters());
        }
    }

    @Override
    public void onPull(TransferResult result) {
        Counters c = counters.get(result.kind());
        switch (result) {
            case TransferResult.Done d -> {
                c.pulls.increment();
                c.bytes.add(d.bytes());
                c.blocks.add(d.blocks());
                c.nanos.add(d.nanos());
            }
            case TransferResult.Failed f -> c.failures.get(f.reason()).increment();
        }
    }

    @Override
    public void onServed(TransferKind kind, long bytes, int blocks) {
        Counters c = counters.get(kind);
        c.servedBytes.add(bytes);
        c.servedBlocks.add(blocks);
    }

    /** Current totals for {@code kind}. */
    public Snapshot snapshot(TransferKind kind) {
        Counters c = counters.get(kind);
        EnumMap<TransferFailure, Long> failures = new EnumMap<>(TransferFailure.class);
        c.failures.forEach((reason, n) -> failures.put(reason, n.sum()));
        return new Snapshot(kind, c.pulls.sum(), failures, c.bytes.sum(), c.blocks.sum(), c.nanos.sum() / 1e9,
                c.servedBytes.sum(), c.servedBlocks.sum());
    }
}
