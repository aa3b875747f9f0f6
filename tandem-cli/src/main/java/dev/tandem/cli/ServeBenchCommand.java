package dev.tandem.cli;

import dev.tandem.bench.ArrivalMode;
import dev.tandem.bench.BenchReport;
import dev.tandem.bench.ConversationWorkload;
import dev.tandem.bench.JsonReport;
import dev.tandem.bench.LengthDistribution;
import dev.tandem.bench.LoadSettings;
import dev.tandem.bench.MarkdownReport;
import dev.tandem.bench.PromptForm;
import dev.tandem.bench.RandomWorkload;
import dev.tandem.bench.ReportFiles;
import dev.tandem.bench.ServeBench;
import dev.tandem.bench.SharedPrefixWorkload;
import dev.tandem.bench.Slo;
import dev.tandem.bench.TraceReader;
import dev.tandem.bench.TraceWorkload;
import dev.tandem.bench.Workload;
import dev.tandem.core.ConfigException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code tandem bench serve}: load an OpenAI-compatible server and report latency, throughput and hit rate. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Drive any OpenAI-compatible server with streaming requests and report TTFT, inter-token "
                + "latency, TPOT, end-to-end latency, throughput, prefix cache hit rate, errors and goodput.",
            "Runs once per --concurrency or --rate value (a sweep)."})
final class ServeBenchCommand implements Runnable {
    @Option(names = "--url", required = true, description = "the server, e.g. http://127.0.0.1:8000")
    String url;

    @Mixin
    WorkloadOptions workload = new WorkloadOptions();

    @Mixin
    LoadOptions load = new LoadOptions();

    @Option(names = "--model", description = "model name to send (default: the first of GET /v1/models)")
    String model;

    @Option(names = "--simulated", description = "label the results as a simulation (automatic for mock* models)")
    boolean simulated;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        Workload w = workload.build();
        ServeBench.Settings settings = new ServeBench.Settings(url, model, w, load.arrivals(w),
                load.settings(workload.seed, 0), simulated, CommandLines.typed(spec));
        BenchReport report = ServeBench.run(settings, System.err);
        load.emit(report, spec.commandLine().getOut());
    }

    /** Options that pick and shape the workload; shared with {@code bench compare}. */
    static final class WorkloadOptions {
        @Option(names = "--workload", defaultValue = "conversations",
                description = "conversations, shared-prefix, trace or random (default: ${DEFAULT-VALUE})")
        String name;

        @Option(names = "--conversations", defaultValue = "10", description = "conversations: N (default: ${DEFAULT-VALUE})")
        int conversations;

        @Option(names = "--turns", defaultValue = "5", description = "conversations: turns each (default: ${DEFAULT-VALUE})")
        int turns;

        @Option(names = "--user-words", defaultValue = "16",
                description = "conversations: words per user message (default: ${DEFAULT-VALUE})")
        int userWords;

        @Option(names = "--system-words", defaultValue = "0",
                description = "conversations: words of each conversation's system prompt (default: ${DEFAULT-VALUE})")
        int systemWords;

        @Option(names = "--groups", defaultValue = "4", description = "shared-prefix: groups (default: ${DEFAULT-VALUE})")
        int groups;

        @Option(names = "--requests-per-group", defaultValue = "8",
                description = "shared-prefix: requests per group (default: ${DEFAULT-VALUE})")
        int requestsPerGroup;

        @Option(names = "--prefix-words", defaultValue = "200",
                description = "shared-prefix: words of the shared system prompt (default: ${DEFAULT-VALUE})")
        int prefixWords;

        @Option(names = "--suffix-words", defaultValue = "16",
                description = "shared-prefix: words of each user message (default: ${DEFAULT-VALUE})")
        int suffixWords;

        @Option(names = "--trace", description = "trace: a Mooncake-format JSONL file")
        Path trace;

        @Option(names = "--limit", defaultValue = "0", description = "trace: first N rows only, 0 = all (default: ${DEFAULT-VALUE})")
        int limit;

        @Option(names = "--trace-block-tokens", defaultValue = "512",
                description = "trace: tokens per hash id in the file (default: ${DEFAULT-VALUE})")
        int traceBlockTokens;

        @Option(names = "--block-tokens", defaultValue = "512",
                description = "trace: tokens per hash id in the prompts sent; smaller scales prompts down (default: ${DEFAULT-VALUE})")
        int blockTokens;

        @Option(names = "--max-input-tokens", defaultValue = "0",
                description = "trace: cut prompts to this many tokens, 0 = no cut (default: ${DEFAULT-VALUE})")
        int maxInputTokens;

        @Option(names = "--requests", defaultValue = "100", description = "random: requests (default: ${DEFAULT-VALUE})")
        int requests;

        @Option(names = "--input-len", defaultValue = "128",
                description = "random: prompt length: N, MIN..MAX or normal:MEAN:SD (default: ${DEFAULT-VALUE})")
        String inputLen;

        @Option(names = "--output-len", defaultValue = "64",
                description = "random: max_tokens: N, MIN..MAX or normal:MEAN:SD (default: ${DEFAULT-VALUE})")
        String outputLen;

        @Option(names = "--prompt-form", defaultValue = "tokens",
                description = "trace and random: tokens (token-id prompts, exact) or text (words) (default: ${DEFAULT-VALUE})")
        String promptForm;

        @Option(names = "--token-ids", defaultValue = "3:259",
                description = "token-id prompts use ids in [LO, HI) (default: ${DEFAULT-VALUE})")
        String tokenIds;

        @Option(names = "--max-tokens",
                description = "reply length: conversations and shared-prefix (default 32); trace: caps output_length")
        Integer maxTokens;

        @Option(names = "--seed", defaultValue = "0", description = "prompt and arrival seed (default: ${DEFAULT-VALUE})")
        long seed;

        Workload build() {
            int chatMaxTokens = maxTokens == null ? 32 : maxTokens;
            return switch (name.trim().toLowerCase(Locale.ROOT)) {
                case "conversations" -> new ConversationWorkload(conversations, turns, userWords, systemWords,
                        chatMaxTokens, seed);
                case "shared-prefix" -> new SharedPrefixWorkload(groups, requestsPerGroup, prefixWords, suffixWords,
                        chatMaxTokens, seed);
                case "trace" -> {
                    if (trace == null) {
                        throw new ConfigException("--workload trace needs --trace FILE");
                    }
                    int[] ids = tokenIdRange();
                    yield new TraceWorkload(TraceReader.read(trace, limit, traceBlockTokens), traceBlockTokens,
                            blockTokens, PromptForm.parse(promptForm), ids[0], ids[1], maxTokens == null ? 0 : maxTokens,
                            maxInputTokens, seed);
                }
                case "random" -> {
                    if (maxTokens != null) {
                        throw new ConfigException("--workload random takes --output-len, not --max-tokens");
                    }
                    int[] ids = tokenIdRange();
                    yield new RandomWorkload(requests, LengthDistribution.parse("--input-len", inputLen),
                            LengthDistribution.parse("--output-len", outputLen), PromptForm.parse(promptForm), ids[0],
                            ids[1], seed);
                }
                default -> throw new ConfigException("--workload must be conversations, shared-prefix, trace or random, got '"
                        + name + "'");
            };
        }

        private int[] tokenIdRange() {
            String[] p = tokenIds.split(":");
            try {
                if (p.length == 2) {
                    return new int[] {Integer.parseInt(p[0].trim()), Integer.parseInt(p[1].trim())};
                }
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new ConfigException("--token-ids must be LO:HI, got '" + tokenIds + "'");
        }
    }

    /** Options that shape the load and the output; shared with {@code bench compare}. */
    static final class LoadOptions {
        @Option(names = "--concurrency", split = ",",
                description = "closed loop: requests in flight; several values make a sweep "
                        + "(default: the number of conversations, else 4)")
        List<Integer> concurrency;

        @Option(names = "--rate", split = ",", description = "open loop: requests per second; several values make a sweep")
        List<Double> rate;

        @Option(names = "--poisson", description = "with --rate: exponential gaps (a Poisson process)")
        boolean poisson;

        @Option(names = "--speedup", description = "trace: send at the trace's timestamps divided by F (the trace default, F = 1)")
        Double speedup;

        @Option(names = "--temperature", defaultValue = "0", description = "sampling temperature (default: ${DEFAULT-VALUE})")
        double temperature;

        @Option(names = "--ignore-eos", description = "send ignore_eos so every reply has max_tokens tokens")
        boolean ignoreEos;

        @Option(names = "--ttft-slo-ms", description = "goodput: TTFT limit, ms")
        Double ttftSloMs;

        @Option(names = "--itl-slo-ms", description = "goodput: limit on each request's mean inter-token latency (TPOT), ms")
        Double itlSloMs;

        @Option(names = "--request-timeout-s", defaultValue = "300",
                description = "deadline per request, s (default: ${DEFAULT-VALUE})")
        double requestTimeoutS;

        @Option(names = "--json", description = "print the summary JSON on stdout")
        boolean json;

        @Option(names = "--out", description = "write summary.json, report.md, requests.jsonl and PNG charts here")
        Path out;

        @Option(names = "--quiet", description = "no progress line")
        boolean quiet;

        @Option(names = "--warmup-requests", description = "unmeasured single-turn chats sent before each run "
                + "(default: 0 for serve, 8 for compare)")
        Integer warmupRequests;

        List<ArrivalMode> arrivals(Workload w) {
            int modes = (concurrency != null ? 1 : 0) + (rate != null ? 1 : 0) + (speedup != null ? 1 : 0);
            if (modes > 1) {
                throw new ConfigException("choose one of --concurrency, --rate and --speedup");
            }
            if (poisson && rate == null) {
                throw new ConfigException("--poisson needs --rate");
            }
            List<ArrivalMode> out = new ArrayList<>();
            if (concurrency != null) {
                concurrency.forEach(c -> out.add(new ArrivalMode.Concurrency(c)));
            } else if (rate != null) {
                rate.forEach(r -> out.add(new ArrivalMode.Rate(r, poisson)));
            } else if (speedup != null) {
                if (!w.timed()) {
                    throw new ConfigException("--speedup needs --workload trace");
                }
                out.add(new ArrivalMode.TraceTime(speedup));
            } else if (w.timed()) {
                out.add(new ArrivalMode.TraceTime(1));
            } else {
                out.add(new ArrivalMode.Concurrency(w instanceof ConversationWorkload c ? c.conversations() : 4));
            }
            return out;
        }

        LoadSettings settings(long seed, int defaultWarmupRequests) {
            return new LoadSettings(temperature, seed, ignoreEos, slo(),
                    Duration.ofMillis(Math.round(requestTimeoutS * 1000)), apiKey(), quiet,
                    warmupRequests != null ? warmupRequests : defaultWarmupRequests);
        }

        Slo slo() {
            return new Slo(ttftSloMs == null ? Double.NaN : ttftSloMs, itlSloMs == null ? Double.NaN : itlSloMs);
        }

        String apiKey() {
            String key = System.getenv("TANDEM_API_KEY");
            return key == null || key.isBlank() ? null : key;
        }

        void emit(BenchReport report, java.io.PrintWriter stdout) {
            if (out != null) {
                ReportFiles.write(report, out);
            }
            if (json) {
                stdout.println(JsonReport.toJson(report));
            } else {
                stdout.print(MarkdownReport.resultsTable(report));
                if (out != null) {
                    stdout.println("Report: " + out.resolve("report.md"));
                }
            }
            stdout.flush();
        }
    }
}
