package dev.tandem.engine;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.engine.mock.TimingProfile;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Serving configuration of one engine: KV cache size and continuous-batching limits.
 * Validated on construction; every field has a default ({@link #DEFAULT}).
 *
 * @param blockSizeTokens      {@code tandem.engine.block-size-tokens} ({@code --block-size}): tokens per
 *                             KV block; default 16; range [1, 1024]. All workers of one model must agree.
 * @param kvBlocks             {@code tandem.engine.kv-blocks} ({@code --kv-blocks}): blocks in the pool;
 *                             default 0, meaning "derive from {@code kvCacheMemoryBytes}"; range >= 0
 * @param kvCacheMemoryBytes   {@code tandem.engine.kv-cache-memory-bytes} ({@code --kv-cache-memory},
 *                             e.g. {@code 2GiB}): pool size when {@code kvBlocks} is 0; default 2 GiB; > 0
 * @param kvDtype              {@code tandem.engine.kv-dtype} ({@code --kv-dtype}): KV element type; default F16
 * @param maxBatchTokens       {@code tandem.engine.max-batch-tokens} ({@code --max-batch-tokens}): most
 *                             tokens in one forward step (decode tokens plus prefill chunks);
 *                             default 512; range [maxSequences, 1,048,576]
 * @param maxSequences         {@code tandem.engine.max-sequences} ({@code --max-seqs}): most sequences
 *                             running at once (one step holds at most this many); default 64; >= 1
 * @param maxQueuedRequests    {@code tandem.engine.max-queued-requests}: most admitted, unfinished requests
 *                             (running and waiting); beyond it submit fails with OVERLOADED; default 4096; >= 1
 * @param loadReportIntervalMs {@code tandem.engine.load-report-interval-ms}: period of load reports to
 *                             listeners even when nothing changed; default 1000 ms; >= 1
 * @param pinTtlMs             {@code tandem.engine.pin-ttl-ms}: how long pinned prompt blocks and import
 *                             reservations live before they are released automatically; default
 *                             30000 ms; >= 1
 * @param mockProfile          {@code tandem.engine.mock-profile} ({@code --mock-profile}): step-time profile
 *                             of a mock engine ({@link TimingProfile#named}); ignored by the real engine;
 *                             default {@code dynamo}
 */
public record EngineConfig(int blockSizeTokens, int kvBlocks, long kvCacheMemoryBytes, KvDtype kvDtype,
                           int maxBatchTokens, int maxSequences, int maxQueuedRequests,
                           long loadReportIntervalMs, long pinTtlMs, String mockProfile) {

    public static final int DEFAULT_BLOCK_SIZE_TOKENS = 16;
    public static final long DEFAULT_KV_CACHE_MEMORY_BYTES = 2L << 30;
    public static final KvDtype DEFAULT_KV_DTYPE = KvDtype.F16;
    public static final int DEFAULT_MAX_BATCH_TOKENS = 512;
    public static final int DEFAULT_MAX_SEQUENCES = 64;
    public static final int DEFAULT_MAX_QUEUED_REQUESTS = 4096;
    public static final long DEFAULT_LOAD_REPORT_INTERVAL_MS = 1000;
    public static final long DEFAULT_PIN_TTL_MS = 30_000;
    public static final String DEFAULT_MOCK_PROFILE = TimingProfile.DYNAMO.name();

    public static final EngineConfig DEFAULT = new EngineConfig(DEFAULT_BLOCK_SIZE_TOKENS, 0,
            DEFAULT_KV_CACHE_MEMORY_BYTES, DEFAULT_KV_DTYPE, DEFAULT_MAX_BATCH_TOKENS, DEFAULT_MAX_SEQUENCES,
            DEFAULT_MAX_QUEUED_REQUESTS, DEFAULT_LOAD_REPORT_INTERVAL_MS, DEFAULT_PIN_TTL_MS, DEFAULT_MOCK_PROFILE);

    public EngineConfig {
        require(blockSizeTokens >= 1 && blockSizeTokens <= 1024, "block size must be in [1, 1024] tokens, got "
                + blockSizeTokens);
        require(kvBlocks >= 0, "kv blocks must be >= 0 (0 derives it from the KV cache memory), got " + kvBlocks);
        require(kvBlocks > 0 || kvCacheMemoryBytes > 0, "KV cache memory must be positive, got " + kvCacheMemoryBytes);
        require(kvDtype != null, "kv dtype is missing");
        require(maxSequences >= 1, "max sequences must be >= 1, got " + maxSequences);
        require(maxBatchTokens >= maxSequences && maxBatchTokens <= 1 << 20, "max batch tokens must be in [max sequences ("
                + maxSequences + "), 1048576], got " + maxBatchTokens);
        require(maxQueuedRequests >= 1, "max queued requests must be >= 1, got " + maxQueuedRequests);
        require(loadReportIntervalMs >= 1, "load report interval must be >= 1 ms, got " + loadReportIntervalMs);
        require(pinTtlMs >= 1, "pin TTL must be >= 1 ms, got " + pinTtlMs);
        TimingProfile.named(mockProfile); // throws ConfigException naming the known profiles
    }

    /**
     * Blocks in the pool for {@code layout}: {@code kvBlocks} if set, else as many whole blocks as
     * fit in {@code kvCacheMemoryBytes}.
     *
     * @throws ConfigException if not even one block fits
     */
    public int resolveBlockCount(KvLayout layout) {
        if (layout.blockSizeTokens() != blockSizeTokens) {
            throw new ConfigException("KV layout block size " + layout.blockSizeTokens()
                    + " differs from the configured block size " + blockSizeTokens);
        }
        if (kvBlocks > 0) {
            return kvBlocks;
        }
        long blocks = kvCacheMemoryBytes / layout.blockBytes();
        if (blocks < 1) {
            throw new ConfigException("KV cache memory " + formatBytes(kvCacheMemoryBytes) + " is smaller than one block ("
                    + formatBytes(layout.blockBytes()) + " for " + layout.describe() + ")");
        }
        return (int) Math.min(blocks, Integer.MAX_VALUE - 8);
    }

    public EngineConfig withBlockSizeTokens(int v) {
        return new EngineConfig(v, kvBlocks, kvCacheMemoryBytes, kvDtype, maxBatchTokens, maxSequences,
                maxQueuedRequests, loadReportIntervalMs, pinTtlMs, mockProfile);
    }

    public EngineConfig withKvBlocks(int v) {
        return new EngineConfig(blockSizeTokens, v, kvCacheMemoryBytes, kvDtype, maxBatchTokens, maxSequences,
                maxQueuedRequests, loadReportIntervalMs, pinTtlMs, mockProfile);
    }

    /** Sizes the pool by memory; clears any block count. */
    public EngineConfig withKvCacheMemoryBytes(long v) {
        return new EngineConfig(blockSizeTokens, 0, v, kvDtype, maxBatchTokens, maxSequences,
                maxQueuedRequests, loadReportIntervalMs, pinTtlMs, mockProfile);
    }

    public EngineConfig withKvDtype(KvDtype v) {
        return new EngineConfig(blockSizeTokens, kvBlocks, kvCacheMemoryBytes, v, maxBatchTokens, maxSequences,
                maxQueuedRequests, loadReportIntervalMs, pinTtlMs, mockProfile);
    }

    public EngineConfig withMaxBatchTokens(int v) {
        return new EngineConfig(blockSizeTokens, kvBlocks, kvCacheMemoryBytes, kvDtype, v, maxSequences,
                maxQueuedRequests, loadReportIntervalMs, pinTtlMs, mockProfile);
    }

    public EngineConfig withMaxSequences(int v) {
        return new EngineConfig(blockSizeTokens, kvBlocks, kvCacheMemoryBytes, kvDtype, maxBatchTokens, v,
                maxQueuedRequests, loadReportIntervalMs, pinTtlMs, mockProfile);
    }

    /** Both batching limits at once (setting them one by one may pass through an invalid pair). */
    public EngineConfig withBatchLimits(int maxBatchTokensValue, int maxSequencesValue) {
        return new EngineConfig(blockSizeTokens, kvBlocks, kvCacheMemoryBytes, kvDtype, maxBatchTokensValue,
                maxSequencesValue, maxQueuedRequests, loadReportIntervalMs, pinTtlMs, mockProfile);
    }

    public EngineConfig withMaxQueuedRequests(int v) {
        return new EngineConfig(blockSizeTokens, kvBlocks, kvCacheMemoryBytes, kvDtype, maxBatchTokens, maxSequences,
                v, loadReportIntervalMs, pinTtlMs, mockProfile);
    }

    public EngineConfig withLoadReportIntervalMs(long v) {
        return new EngineConfig(blockSizeTokens, kvBlocks, kvCacheMemoryBytes, kvDtype, maxBatchTokens, maxSequences,
                maxQueuedRequests, v, pinTtlMs, mockProfile);
    }

    public EngineConfig withPinTtlMs(long v) {
        return new EngineConfig(blockSizeTokens, kvBlocks, kvCacheMemoryBytes, kvDtype, maxBatchTokens, maxSequences,
                maxQueuedRequests, loadReportIntervalMs, v, mockProfile);
    }

    public EngineConfig withMockProfile(String v) {
        return new EngineConfig(blockSizeTokens, kvBlocks, kvCacheMemoryBytes, kvDtype, maxBatchTokens, maxSequences,
                maxQueuedRequests, loadReportIntervalMs, pinTtlMs, v);
    }

    /** The mock engine's step-time profile this configuration names, at speed-up 1. */
    public TimingProfile mockTiming() {
        return TimingProfile.named(mockProfile);
    }

    private static final Pattern BYTES = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([kmgt]?)(i?)b?");

    /**
     * Parses a memory size: a plain byte count, or a number with a unit: {@code KiB MiB GiB TiB}
     * (powers of 1024; also {@code K M G T} and {@code k m g t}) or {@code KB MB GB TB} (powers of
     * 1000). Examples: {@code 2GiB}, {@code 512MiB}, {@code 1.5G}, {@code 100000}.
     *
     * @throws ConfigException naming the text if it is not a positive size
     */
    public static long parseBytes(String text) {
        if (text == null) {
            throw new ConfigException("memory size is missing");
        }
        String t = text.trim().toLowerCase(Locale.ROOT);
        Matcher m = BYTES.matcher(t);
        if (!m.matches()) {
            throw new ConfigException("cannot parse memory size '" + text + "' (expected e.g. 2GiB, 512MiB or a byte count)");
        }
        double number = Double.parseDouble(m.group(1));
        String unit = m.group(2);
        boolean binary = !m.group(3).isEmpty() || (!unit.isEmpty() && !t.endsWith("b"));
        int power = switch (unit) {
            case "" -> 0;
            case "k" -> 1;
            case "m" -> 2;
            case "g" -> 3;
            default -> 4;
        };
        double bytes = number * Math.pow(binary ? 1024 : 1000, power);
        if (bytes < 1 || bytes > Long.MAX_VALUE / 2) {
            throw new ConfigException("memory size '" + text + "' is out of range");
        }
        return (long) bytes;
    }

    /** A byte count in the largest binary unit that keeps it readable, e.g. {@code 2.0GiB}. */
    public static String formatBytes(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? bytes + "B" : String.format(Locale.ROOT, "%.1f%s", v, units[u]);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new ConfigException(message);
        }
    }
}
