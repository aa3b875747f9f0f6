package dev.tandem.cli;

import dev.tandem.bench.TraceReplay;
import dev.tandem.router.RouterConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem bench replay}: a Mooncake trace against mock workers behind the router. */
@Command(name = "replay", mixinStandardHelpOptions = true,
        description = {"Replay a Mooncake-format trace (JSONL: timestamp, input_length, output_length, hash_ids of",
            "512-token blocks) against N mock workers behind the router, on simulated time; report the prefix",
            "hit rate, time to first token, end-to-end latency and load spread of each routing policy."})
final class BenchReplayCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--trace", required = true, description = "the trace file (e.g. ../shared/traces/mooncake-synthetic.jsonl)")
    Path trace;

    @Option(names = "--workers", defaultValue = "8", description = "mock workers (default: ${DEFAULT-VALUE})")
    int workers;

    @Option(names = "--policy", split = ",", defaultValue = "kv",
            description = "kv, round-robin, random, least-loaded or session-affinity; a comma-separated list runs "
                    + "each in turn (default: ${DEFAULT-VALUE})")
    List<String> policies;

    @Option(names = "--block-size", defaultValue = "512", description = "KV block size in tokens (default: ${DEFAULT-VALUE})")
    int blockSize;

    @Option(names = "--kv-tokens", defaultValue = "4194304",
            description = "KV capacity of each worker in tokens (default: ${DEFAULT-VALUE})")
    long kvTokens;

    @Option(names = "--max-batch-tokens", defaultValue = "8192",
            description = "tokens per engine step, the prefill chunk (default: ${DEFAULT-VALUE})")
    int maxBatchTokens;

    @Option(names = "--limit", defaultValue = "0", description = "replay only the first N requests (default: all)")
    int limit;

    @Option(names = "--seed", defaultValue = "1", description = "router randomness (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--overlap-weight", defaultValue = "1.0", description = "KV cost weight (default: ${DEFAULT-VALUE})")
    double overlapWeight;

    @Option(names = "--router-temperature", defaultValue = "0.0",
            description = "KV softmax temperature (default: ${DEFAULT-VALUE})")
    double temperature;

    @Option(names = "--json", description = "print flat JSON (one object, or an array for several policies)")
    boolean json;

    @Override
    public void run() {
        List<dev.tandem.bench.TraceRecord> rows = TraceReplay.read(trace, limit);
        List<TraceReplay.Result> results = new ArrayList<>();
        for (String p : policies) {
            TraceReplay.Options o = new TraceReplay.Options(workers, RouterConfig.PolicyKind.parse(p), blockSize,
                    kvTokens, maxBatchTokens, limit, seed, overlapWeight, temperature);
            results.add(TraceReplay.run(rows, o));
        }
        spec.commandLine().getOut().println(json ? TraceReplay.json(results) : TraceReplay.table(results));
        spec.commandLine().getOut().flush();
    }
}
