package dev.tandem.cli;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvDtype;
import dev.tandem.engine.EngineConfig;
import picocli.CommandLine.Option;

/** KV cache and batching options shared by the commands that run an engine. */
final class EngineOptions {
    @Option(names = "--block-size", description = "tokens per KV block (default: 16)")
    Integer blockSize;

    @Option(names = "--kv-blocks", description = "KV blocks in the pool (default: derived from --kv-cache-memory); "
            + "with --upstream, the blocks each server's cache holds, as the router should assume them (default: "
            + "its slots x context, x 8 for llama-server, whose host-memory prompt cache is not reported)")
    Integer kvBlocks;

    @Option(names = "--kv-cache-memory", description = "KV pool size, e.g. 2GiB or 512MiB (default: "
            + ServeCommand.DEFAULT_KV_CACHE_MEMORY + " per worker in serve and worker, 2GiB in generate)")
    String kvCacheMemory;

    @Option(names = "--kv-dtype", description = "KV element type: f16 or f32 (default: f16)")
    String kvDtype;

    @Option(names = "--max-batch-tokens", description = "most tokens per forward step (default: 512)")
    Integer maxBatchTokens;

    @Option(names = "--max-seqs", description = "most sequences running at once (default: 64)")
    Integer maxSeqs;

    @Option(names = "--threads", description = "kernel threads (default: the number of cores)")
    Integer threads;

    @Option(names = "--mock-profile", paramLabel = "NAME",
            description = "with --mock: step-time profile, dynamo (NVIDIA Dynamo's mocker) or tinyllama-q8-cpu2t "
                    + "(calibrated from this engine; see docs/benchmarks.md) (default: dynamo)")
    String mockProfile;

    /** The configuration these options give; {@code minBlocks > 0} sizes an unsized pool to fit a workload. */
    EngineConfig config(int minBlocks) {
        if (kvBlocks != null && kvCacheMemory != null) {
            throw new ConfigException("give either --kv-blocks or --kv-cache-memory, not both");
        }
        EngineConfig c = EngineConfig.DEFAULT;
        if (blockSize != null) {
            c = c.withBlockSizeTokens(blockSize);
        }
        if (kvDtype != null) {
            c = c.withKvDtype(KvDtype.parse(kvDtype));
        }
        if (mockProfile != null) {
            c = c.withMockProfile(mockProfile);
        }
        int tokens = maxBatchTokens != null ? maxBatchTokens : c.maxBatchTokens();
        int seqs = maxSeqs != null ? maxSeqs : Math.min(c.maxSequences(), tokens);
        c = c.withBatchLimits(tokens, seqs);
        if (kvBlocks != null) {
            c = c.withKvBlocks(kvBlocks);
        } else if (kvCacheMemory != null) {
            c = c.withKvCacheMemoryBytes(EngineConfig.parseBytes(kvCacheMemory));
        } else if (minBlocks > 0) {
            c = c.withKvBlocks(minBlocks);
        }
        return c;
    }

    int threads() {
        int t = threads != null ? threads : Runtime.getRuntime().availableProcessors();
        if (t < 1) {
            throw new ConfigException("--threads must be at least 1, got " + t);
        }
        return t;
    }
}
