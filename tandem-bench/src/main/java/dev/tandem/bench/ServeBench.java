package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * {@code tandem bench serve}: runs one workload against one OpenAI-compatible server, once per
 * arrival setting (a sweep over concurrencies or rates), and returns the report.
 *
 * <p>In a sweep, run {@code i} uses the workload with seed {@code seed + i}: the prompts have the
 * same shape but different words, so one run's cached prefixes never serve the next run.
 */
public final class ServeBench {
    private static final Duration MODELS_TIMEOUT = Duration.ofSeconds(10);

    /**
     * @param url         the server
     * @param model       the model name to send; null to take the first of {@code GET /v1/models}
     * @param workload    what to send
     * @param arrivals    one run per entry, in order
     * @param load        how requests are sent
     * @param simulated   label the results as a simulation (also set when the server lists a mock model)
     * @param commandLine what the user typed, for the report
     */
    public record Settings(String url, String model, Workload workload, List<ArrivalMode> arrivals, LoadSettings load,
                           boolean simulated, String commandLine) {
        public Settings {
            arrivals = List.copyOf(arrivals);
            if (arrivals.isEmpty()) {
                throw new ConfigException("no arrival setting (--concurrency, --rate or --speedup)");
            }
        }
    }

    private ServeBench() {
    }

    public static BenchReport run(Settings s, PrintStream err) {
        RunInfo info = RunInfo.capture(s.commandLine());
        try (StreamingClient client = new StreamingClient(s.url(), s.load().requestTimeout(), s.load().apiKey())) {
            String model = s.model() != null ? s.model() : firstModel(client);
            boolean simulated = s.simulated() || looksSimulated(model);
            List<RunRecord> runs = new ArrayList<>();
            for (int i = 0; i < s.arrivals().size(); i++) {
                ArrivalMode arrival = s.arrivals().get(i);
                Workload workload = s.arrivals().size() == 1 ? s.workload() : s.workload().withSeed(s.workload()
                        .seed() + i);
                runs.add(runOnce(client, s.load(), model, workload, arrival, arrival.label(), null, err));
            }
            List<String> notes = new ArrayList<>();
            if (s.load().warmupRequests() > 0) {
                notes.add(warmupNote(s.load()));
            }
            if (s.arrivals().size() > 1) {
                notes.add("Sweep: run i used the workload with seed + i, so no run was served from another's cache.");
            }
            return new BenchReport("Tandem serving benchmark", info, client.base().toString(), model,
                    s.workload().describe(), simulated, runs, notes, List.of());
        }
    }

    /** One run of {@code workload} at {@code arrival} against {@code client}'s server. */
    static RunRecord runOnce(StreamingClient client, LoadSettings s, String model, Workload workload,
                             ArrivalMode arrival, String label, String description, PrintStream err) {
        RequestOptions options = new RequestOptions(model, s.temperature(), s.seed(), s.ignoreEos());
        if (s.warmupRequests() > 0) {
            warmUp(client, options, s, label, err);
        }
        int total = workload.sessions().stream().mapToInt(x -> x.steps().size()).sum();
        LoadRunner.Outcome outcome;
        try (Progress progress = Progress.start(err, s.quiet(), label, total)) {
            outcome = new LoadRunner(client, options, arrival, s.seed(), progress).run(workload);
        }
        return RunRecord.of(label, description, arrival, outcome, s.slo());
    }

    /**
     * Sends {@code warmupRequests} single-turn chats whose words come from another seed (so they
     * share no cached prefix with the workload beyond a chat template's first tokens) and
     * discards their results.
     */
    static void warmUp(StreamingClient client, String model, LoadSettings s, String label, PrintStream err) {
        warmUp(client, new RequestOptions(model, s.temperature(), s.seed(), s.ignoreEos()), s, label, err);
    }

    private static void warmUp(StreamingClient client, RequestOptions options, LoadSettings s, String label,
                               PrintStream err) {
        ConversationWorkload warmup = new ConversationWorkload(s.warmupRequests(), 1, 16, 0, 16,
                TokenSpace.mix(s.seed(), 0x5741524DL));
        LoadRunner.Outcome o = new LoadRunner(client, options,
                new ArrivalMode.Concurrency(Math.min(4, s.warmupRequests())), s.seed(), null).run(warmup);
        long failed = o.results().stream().filter(r -> !r.ok()).count();
        if (!s.quiet()) {
            err.printf("[%s] warm-up: %d requests in %.1f s%s%n", label, o.results().size(), o.durationNs() / 1e9,
                    failed > 0 ? ", " + failed + " failed" : "");
        }
    }

    static String warmupNote(LoadSettings s) {
        return "Each run was preceded by " + s.warmupRequests() + " unmeasured warm-up requests (single-turn chats "
                + "sharing no prefix with the workload).";
    }

    static String firstModel(StreamingClient client) {
        List<String> models = client.models(MODELS_TIMEOUT);
        if (models.isEmpty()) {
            throw new ConfigException("the server at " + client.base() + " lists no model; pass --model");
        }
        return models.getFirst();
    }

    /** Tandem names mock-engine models "mock..." (see `tandem serve --mock`). */
    static boolean looksSimulated(String model) {
        return model.toLowerCase(Locale.ROOT).startsWith("mock");
    }
}
