package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * {@code tandem bench compare}: starts each configuration as its own server process, runs the
 * same workload against each in turn (one server alive at a time, so they never compete for the
 * cores), and returns one side-by-side report with the seed's claims next to the measurements.
 * A configuration whose server does not start (an option this build lacks, say) is skipped with
 * a note carrying the server's own message.
 *
 * <p>With several rounds the whole list of configurations runs again in the same order (A, B, C,
 * A, B, C), each time with a fresh server and the same workload, so that a disturbance of the
 * shared machine shows as disagreement between rounds instead of as a difference between
 * configurations; the claims are stated per round.
 *
 * <p>Warm-up requests go to each fresh server before its counters are read, so the
 * disaggregation counters of a run ({@link DisaggCounters}) cover the measured requests only.
 */
public final class CompareBench {
    private static final Duration METRICS_TIMEOUT = Duration.ofSeconds(10);

    /**
     * @param launcher       how to start {@code tandem serve}
     * @param serverArgs     arguments every configuration gets (model, --mock, threads, ...)
     * @param simulated      the servers run mock engines: every result is labelled a simulation
     * @param modelLabel     what the report names as the model (e.g. "stories260K (real engine)")
     * @param workers        N for round-robin and kv
     * @param prefillWorkers P for the disaggregated configurations
     * @param decodeWorkers  D for the disaggregated configurations
     * @param configurations which ones, in order
     * @param rounds         how many times the whole list runs
     * @param workload       sent to every configuration
     * @param arrival        the same arrival setting for every configuration
     * @param load           request settings
     * @param readyTimeout   how long a server may take to become ready
     * @param logDir         where each server's output goes ({@code <id>.log})
     * @param commandLine    what the user typed
     */
    public record Settings(ServerLauncher launcher, List<String> serverArgs, boolean simulated, String modelLabel,
                           int workers, int prefillWorkers, int decodeWorkers,
                           List<ServeConfiguration> configurations, int rounds, Workload workload, ArrivalMode arrival,
                           LoadSettings load, Duration readyTimeout, Path logDir, String commandLine) {
        public Settings {
            serverArgs = List.copyOf(serverArgs);
            configurations = List.copyOf(configurations);
            if (workers < 1 || prefillWorkers < 1 || decodeWorkers < 1) {
                throw new ConfigException("--workers, --prefill-workers and --decode-workers must be >= 1, got "
                        + workers + ", " + prefillWorkers + ", " + decodeWorkers);
            }
            if (rounds < 1) {
                throw new ConfigException("--rounds must be >= 1, got " + rounds);
            }
        }
    }

    private CompareBench() {
    }

    public static BenchReport run(Settings s, PrintStream err) {
        RunInfo info = RunInfo.capture(s.commandLine());
        List<RunRecord> runs = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        List<List<Claim>> claimsPerRound = new ArrayList<>();
        String model = null;
        for (int round = 1; round <= s.rounds(); round++) {
            Map<ServeConfiguration, RunRecord> done = new EnumMap<>(ServeConfiguration.class);
            Map<ServeConfiguration, DisaggCounters> disagg = new EnumMap<>(ServeConfiguration.class);
            for (ServeConfiguration c : s.configurations()) {
                String label = c.label(s.workers(), s.prefillWorkers(), s.decodeWorkers())
                        + (round > 1 ? " #" + round : "");
                List<String> args = new ArrayList<>(s.serverArgs());
                args.addAll(c.serveArgs(s.workers(), s.prefillWorkers(), s.decodeWorkers()));
                if (!s.load().quiet()) {
                    err.println("[" + label + "] starting: tandem serve " + String.join(" ", args));
                }
                try (ComparedServer server = ComparedServer.start(s.launcher(), args,
                        s.logDir().resolve(c.id() + (round > 1 ? "-" + round : "") + ".log"), s.readyTimeout());
                     StreamingClient client = new StreamingClient(server.url(), s.load().requestTimeout(),
                             s.load().apiKey())) {
                    String served = ServeBench.firstModel(client);
                    model = model == null ? served : model;
                    if (s.load().warmupRequests() > 0) {
                        ServeBench.warmUp(client, served, s.load(), label, err);
                    }
                    String before = client.text("/metrics", METRICS_TIMEOUT);
                    RunRecord run = ServeBench.runOnce(client, s.load().withWarmupRequests(0), served, s.workload(),
                            s.arrival(), label, "tandem serve " + String.join(" ", args), err);
                    String after = client.text("/metrics", METRICS_TIMEOUT);
                    if (c.disaggregated()) {
                        DisaggCounters counters = DisaggCounters.between(before, after);
                        disagg.put(c, counters);
                        notes.add(counters.describe(label));
                        run = run.withDisagg(counters);
                    }
                    runs.add(run);
                    done.put(c, run);
                } catch (ComparedServer.StartFailure e) {
                    String note = label + " (" + c.id() + ") skipped: the server did not start: " + e.getMessage();
                    notes.add(note);
                    if (!s.load().quiet()) {
                        err.println("[" + label + "] " + note);
                    }
                }
            }
            claimsPerRound.add(Claims.compute(done, disagg, s.workload() instanceof ConversationWorkload));
        }
        if (runs.isEmpty()) {
            throw new ConfigException("no configuration could be run: " + String.join("; ", notes));
        }
        notes.add("Configurations ran one after another on the same machine, one server process at a time, with "
                + "the same workload (same seed), so ratios between them are like for like"
                + (s.rounds() > 1 ? "; the list ran " + s.rounds() + " times in the same order (run #k is round k)"
                : "") + ".");
        if (s.load().warmupRequests() > 0) {
            notes.add(ServeBench.warmupNote(s.load()));
        }
        if (s.simulated()) {
            notes.add(BenchReport.SIMULATION_BANNER);
        }
        String target = "tandem serve " + String.join(" ", s.serverArgs()) + " (one JVM per configuration)";
        return new BenchReport("Tandem serving comparison", info, target,
                s.modelLabel() != null ? s.modelLabel() : model, s.workload().describe() + "; arrival "
                + s.arrival().label(), s.simulated(), runs, notes, Claims.byRound(claimsPerRound));
    }
}
