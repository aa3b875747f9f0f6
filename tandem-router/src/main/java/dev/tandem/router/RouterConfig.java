package dev.tandem.router;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvLayout;

/**
 * The router's configuration (keys {@code tandem.router.*}); validated on construction.
 *
 * @param blockSizeTokens         {@code block-size-tokens}: tokens per KV block; must equal the
 *                                workers'. Default 16, range [1, 65536].
 * @param maxWorkers              {@code max-workers}: worker slots. Default 64, range [1, 4096].
 * @param maxIndexedBlocks        {@code max-indexed-blocks}: most distinct block hashes in the
 *                                event index before least-recently-used pruning. Default
 *                                2,097,152, range [1, 2^30].
 * @param pruneTargetRatio        {@code prune-target-ratio}: share of the cap kept after
 *                                pruning. Default 0.8, range (0, 1).
 * @param indexShards             {@code index-shards}: index shards, a power of two, or 0 to pick
 *                                from the cap. Default 0, range [0, 1024].
 * @param overlapWeight           {@code overlap-weight}: weight of prefill blocks in the KV cost
 *                                {@code overlapWeight * prefillBlocks + decodeBlocks}. Default 1.0,
 *                                range [0, 1e6].
 * @param temperature             {@code temperature}: softmax temperature over normalised costs;
 *                                0 picks the lowest cost. Default 0.0, range [0, 1e6].
 * @param busyKvUsage             {@code busy-kv-usage}: a worker whose active blocks / total
 *                                blocks reaches this is busy and skipped. Default +Infinity
 *                                (off), range (0, +Infinity].
 * @param busyQueuedPrefillTokens {@code busy-queued-prefill-tokens}: a worker with this many
 *                                prompt tokens queued for prefill is busy. Default
 *                                Long.MAX_VALUE (off), range [1, Long.MAX_VALUE].
 * @param approxTtlMs             {@code approx-ttl-ms}: how long a routing decision counts as
 *                                cached on a worker without KV events. Default 120,000 ms,
 *                                range [1, 86,400,000].
 * @param maxApproxBlocks         {@code max-approx-blocks}: cap of the approximate record.
 *                                Default 1,048,576, range [1, 2^30].
 * @param snapshotTimeoutMs       {@code snapshot-timeout-ms}: a snapshot request unanswered
 *                                this long is repeated. Default 5,000 ms, range [1, 3,600,000].
 * @param maxBufferedEvents       {@code max-buffered-events}: events kept per worker while a
 *                                snapshot is awaited (the oldest are dropped beyond). Default
 *                                16,384, range [1, 10,000,000].
 * @param policy                  {@code policy}: kv, round-robin, random, least-loaded or
 *                                session-affinity. Default kv.
 * @param leastLoadedMetric       {@code least-loaded-metric}: what least-loaded compares.
 *                                Default ACTIVE_BLOCKS.
 * @param sessionVirtualNodes     {@code session-virtual-nodes}: points per worker on the
 *                                session-affinity hash ring. Default 160, range [1, 10,000].
 */
public record RouterConfig(int blockSizeTokens, int maxWorkers, long maxIndexedBlocks, double pruneTargetRatio,
                           int indexShards, double overlapWeight, double temperature, double busyKvUsage,
                           long busyQueuedPrefillTokens, long approxTtlMs, long maxApproxBlocks,
                           long snapshotTimeoutMs, int maxBufferedEvents, PolicyKind policy,
                           LeastLoadedMetric leastLoadedMetric, int sessionVirtualNodes) {

    public static final int DEFAULT_MAX_WORKERS = 64;
    public static final long DEFAULT_MAX_INDEXED_BLOCKS = 1L << 21;
    public static final double DEFAULT_PRUNE_TARGET_RATIO = 0.8;
    public static final double DEFAULT_OVERLAP_WEIGHT = 1.0;
    public static final double DEFAULT_TEMPERATURE = 0.0;
    public static final long DEFAULT_APPROX_TTL_MS = 120_000;
    public static final long DEFAULT_MAX_APPROX_BLOCKS = 1L << 20;
    public static final long DEFAULT_SNAPSHOT_TIMEOUT_MS = 5_000;
    public static final int DEFAULT_MAX_BUFFERED_EVENTS = 16_384;
    public static final int DEFAULT_SESSION_VIRTUAL_NODES = 160;

    /** The routing policies, by their configuration names. */
    public enum PolicyKind {
        KV("kv"), ROUND_ROBIN("round-robin"), RANDOM("random"), LEAST_LOADED("least-loaded"),
        SESSION_AFFINITY("session-affinity");

        private final String configName;

        PolicyKind(String configName) {
            this.configName = configName;
        }

        public String configName() {
            return configName;
        }

        /** Parses a configuration name; a ConfigException lists the valid ones. */
        public static PolicyKind parse(String name) {
            for (PolicyKind k : values()) {
                if (k.configName.equalsIgnoreCase(name.trim())) {
                    return k;
                }
            }
            throw new ConfigException("unknown router policy '" + name
                    + "' (expected kv, round-robin, random, least-loaded or session-affinity)");
        }
    }

    /** What the least-loaded policy compares. */
    public enum LeastLoadedMetric {
        /** Active KV blocks: last load report corrected by the router's own requests. */
        ACTIVE_BLOCKS,
        /** Requests this router sent to the worker that have not finished. */
        IN_FLIGHT_REQUESTS
    }

    public RouterConfig {
        require(blockSizeTokens >= 1 && blockSizeTokens <= 65_536, "block-size-tokens", blockSizeTokens, "[1, 65536]");
        require(maxWorkers >= 1 && maxWorkers <= 4096, "max-workers", maxWorkers, "[1, 4096]");
        require(maxIndexedBlocks >= 1 && maxIndexedBlocks <= (1L << 30), "max-indexed-blocks", maxIndexedBlocks, "[1, 2^30]");
        require(pruneTargetRatio > 0 && pruneTargetRatio < 1, "prune-target-ratio", pruneTargetRatio, "(0, 1)");
        require(indexShards >= 0 && indexShards <= 1024 && (indexShards == 0 || Integer.bitCount(indexShards) == 1),
                "index-shards", indexShards, "0 or a power of two up to 1024");
        require(overlapWeight >= 0 && overlapWeight <= 1e6, "overlap-weight", overlapWeight, "[0, 1e6]");
        require(temperature >= 0 && temperature <= 1e6, "temperature", temperature, "[0, 1e6]");
        require(busyKvUsage > 0, "busy-kv-usage", busyKvUsage, "(0, +Infinity]");
        require(busyQueuedPrefillTokens >= 1, "busy-queued-prefill-tokens", busyQueuedPrefillTokens, "[1, 2^63)");
        require(approxTtlMs >= 1 && approxTtlMs <= 86_400_000L, "approx-ttl-ms", approxTtlMs, "[1, 86400000]");
        require(maxApproxBlocks >= 1 && maxApproxBlocks <= (1L << 30), "max-approx-blocks", maxApproxBlocks, "[1, 2^30]");
        require(snapshotTimeoutMs >= 1 && snapshotTimeoutMs <= 3_600_000L, "snapshot-timeout-ms", snapshotTimeoutMs,
                "[1, 3600000]");
        require(maxBufferedEvents >= 1 && maxBufferedEvents <= 10_000_000, "max-buffered-events", maxBufferedEvents,
                "[1, 10000000]");
        if (policy == null || leastLoadedMetric == null) {
            throw new ConfigException("tandem.router.policy and tandem.router.least-loaded-metric must be set");
        }
        require(sessionVirtualNodes >= 1 && sessionVirtualNodes <= 10_000, "session-virtual-nodes", sessionVirtualNodes,
                "[1, 10000]");
    }

    private static void require(boolean ok, String key, Object value, String range) {
        if (!ok) {
            throw new ConfigException("tandem.router." + key + " must be in " + range + ", got " + value);
        }
    }

    /** Every default. */
    public static RouterConfig defaults() {
        return new RouterConfig(KvLayout.DEFAULT_BLOCK_SIZE_TOKENS, DEFAULT_MAX_WORKERS, DEFAULT_MAX_INDEXED_BLOCKS,
                DEFAULT_PRUNE_TARGET_RATIO, 0, DEFAULT_OVERLAP_WEIGHT, DEFAULT_TEMPERATURE, Double.POSITIVE_INFINITY,
                Long.MAX_VALUE, DEFAULT_APPROX_TTL_MS, DEFAULT_MAX_APPROX_BLOCKS, DEFAULT_SNAPSHOT_TIMEOUT_MS,
                DEFAULT_MAX_BUFFERED_EVENTS, PolicyKind.KV, LeastLoadedMetric.ACTIVE_BLOCKS,
                DEFAULT_SESSION_VIRTUAL_NODES);
    }

    public RouterConfig withBlockSizeTokens(int v) {
        return new RouterConfig(v, maxWorkers, maxIndexedBlocks, pruneTargetRatio, indexShards, overlapWeight,
                temperature, busyKvUsage, busyQueuedPrefillTokens, approxTtlMs, maxApproxBlocks, snapshotTimeoutMs,
                maxBufferedEvents, policy, leastLoadedMetric, sessionVirtualNodes);
    }

    public RouterConfig withMaxWorkers(int v) {
        return new RouterConfig(blockSizeTokens, v, maxIndexedBlocks, pruneTargetRatio, indexShards, overlapWeight,
                temperature, busyKvUsage, busyQueuedPrefillTokens, approxTtlMs, maxApproxBlocks, snapshotTimeoutMs,
                maxBufferedEvents, policy, leastLoadedMetric, sessionVirtualNodes);
    }

    public RouterConfig withMaxIndexedBlocks(long v, int shards) {
        return new RouterConfig(blockSizeTokens, maxWorkers, v, pruneTargetRatio, shards, overlapWeight,
                temperature, busyKvUsage, busyQueuedPrefillTokens, approxTtlMs, maxApproxBlocks, snapshotTimeoutMs,
                maxBufferedEvents, policy, leastLoadedMetric, sessionVirtualNodes);
    }

    public RouterConfig withCost(double weight, double temp) {
        return new RouterConfig(blockSizeTokens, maxWorkers, maxIndexedBlocks, pruneTargetRatio, indexShards, weight,
                temp, busyKvUsage, busyQueuedPrefillTokens, approxTtlMs, maxApproxBlocks, snapshotTimeoutMs,
                maxBufferedEvents, policy, leastLoadedMetric, sessionVirtualNodes);
    }

    public RouterConfig withBusy(double kvUsage, long queuedPrefillTokens) {
        return new RouterConfig(blockSizeTokens, maxWorkers, maxIndexedBlocks, pruneTargetRatio, indexShards,
                overlapWeight, temperature, kvUsage, queuedPrefillTokens, approxTtlMs, maxApproxBlocks,
                snapshotTimeoutMs, maxBufferedEvents, policy, leastLoadedMetric, sessionVirtualNodes);
    }

    public RouterConfig withApprox(long ttlMs, long maxBlocks) {
        return new RouterConfig(blockSizeTokens, maxWorkers, maxIndexedBlocks, pruneTargetRatio, indexShards,
                overlapWeight, temperature, busyKvUsage, busyQueuedPrefillTokens, ttlMs, maxBlocks,
                snapshotTimeoutMs, maxBufferedEvents, policy, leastLoadedMetric, sessionVirtualNodes);
    }

    public RouterConfig withSnapshots(long timeoutMs, int bufferedEvents) {
        return new RouterConfig(blockSizeTokens, maxWorkers, maxIndexedBlocks, pruneTargetRatio, indexShards,
                overlapWeight, temperature, busyKvUsage, busyQueuedPrefillTokens, approxTtlMs, maxApproxBlocks,
                timeoutMs, bufferedEvents, policy, leastLoadedMetric, sessionVirtualNodes);
    }

    public RouterConfig withPolicy(PolicyKind kind) {
        return new RouterConfig(blockSizeTokens, maxWorkers, maxIndexedBlocks, pruneTargetRatio, indexShards,
                overlapWeight, temperature, busyKvUsage, busyQueuedPrefillTokens, approxTtlMs, maxApproxBlocks,
                snapshotTimeoutMs, maxBufferedEvents, kind, leastLoadedMetric, sessionVirtualNodes);
    }

    public RouterConfig withLeastLoadedMetric(LeastLoadedMetric metric) {
        return new RouterConfig(blockSizeTokens, maxWorkers, maxIndexedBlocks, pruneTargetRatio, indexShards,
                overlapWeight, temperature, busyKvUsage, busyQueuedPrefillTokens, approxTtlMs, maxApproxBlocks,
                snapshotTimeoutMs, maxBufferedEvents, policy, metric, sessionVirtualNodes);
    }

    public RouterConfig withSessionVirtualNodes(int nodes) {
        return new RouterConfig(blockSizeTokens, maxWorkers, maxIndexedBlocks, pruneTargetRatio, indexShards,
                overlapWeight, temperature, busyKvUsage, busyQueuedPrefillTokens, approxTtlMs, maxApproxBlocks,
                snapshotTimeoutMs, maxBufferedEvents, policy, leastLoadedMetric, nodes);
    }
}
