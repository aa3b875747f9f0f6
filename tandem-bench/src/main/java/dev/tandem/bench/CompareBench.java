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
     * @param workload       sent to every configuration
     * @param arrival        the same arrival setting for every configuration
     * @param load           request settings
     * @param readyTimeout   how long a server may take to become ready
     * @param logDir         where each server's output goes ({@code <id>.log})
     * @param commandLine    what the user typed
     */
    public record Settings(ServerLauncher launcher, List<String> serverArgs, boolean simulated, String modelLabel,
                           int workers, int prefillWorkers, int decodeWorkers,
                           List<ServeConfiguration> configurations, Workload workload, ArrivalMode arrival,
                           LoadSettings load, Duration readyTimeout, Path logDir, String commandLine) {
        public Settings {
            serverArgs = List.copyOf(serverArgs);
            configurations = List.copyOf(configurations);
            if (workers < 1 || prefillWorkers < 1 || decodeWorkers < 1) {
                throw new ConfigException("--workers, --prefill-workers and --decode-workers must be >= 1, got "
                        + workers + ", " + prefillWorkers + ", " + decodeWorkers);
            }
        }
    }

    private CompareBench() {
    }

    public static BenchReport run(Settings s, PrintStream err) {
        RunInfo info = RunInfo.capture(s.commandLine());
        Map<ServeConfiguration, RunRecord> done = new EnumMap<>(ServeConfiguration.class);
        List<RunRecord> runs = new ArrayList<>();
        List<String> notes = new ArrayList<>();
        Map<ServeConfiguration, DisaggCounters> disagg = new EnumMap<>(ServeConfiguration.class);
        String model = null;
        for (ServeConfiguration c : s.configurations()) {
            String label = c.label(s.workers(), s.prefillWorkers(), s.decodeWorkers());
            List<String> args = new ArrayList<>(s.serverArgs());
            args.addAll(c.serveArgs(s.workers(), s.prefillWorkers(), s.decodeWorkers()));
            if (!s.load().quiet()) {
                err.println("[" + label + "] starting: tandem serve " + String.join(" ", args));
            }
            try (ServerProcess server = ServerProcess.start(s.launcher(), args, s.logDir().resolve(c.id() + ".log"),
                    s.readyTimeout());
                 StreamingClient client = new StreamingClient(server.url(), s.load().requestTimeout(),
                         s.load().apiKey())) {
                String served = ServeBench.firstModel(client);
                model = model == null ? served : model;
                String before = client.text("/metrics", METRICS_TIMEOUT);
                RunRecord run = ServeBench.runOnce(client, s.load(), served, s.workload(), s.arrival(), label,
                        "tandem serve " + String.join(" ", args), err);
                String after = client.text("/metrics", METRICS_TIMEOUT);
                if (c.disaggregated()) {
                    DisaggCounters counters = DisaggCounters.between(before, after);
                    disagg.put(c, counters);
                    notes.add(counters.describe(label));
                }
                runs.add(run);
                done.put(c, run);
            } catch (ServerProcess.StartFailure e) {
                String note = label + " (" + c.id() + ") skipped: the server did not start: " + e.getMessage();
                notes.add(note);
                if (!s.load().quiet()) {
                    err.println("[" + label + "] " + note);
                }
            }
        }
        if (runs.isEmpty()) {
            throw new ConfigException("no configuration could be run: " + String.join("; ", notes));
        }
        notes.add("Configurations ran one after another on the same machine, one server process at a time, with "
                + "the same workload (same seed), so ratios between them are like for like.");
        if (s.load().warmupRequests() > 0) {
            notes.add(ServeBench.warmupNote(s.load()));
        }
        if (s.simulated()) {
            notes.add(BenchReport.SIMULATION_BANNER);
        }
        List<Claim> claims = Claims.compute(done, disagg, s.workload() instanceof ConversationWorkload);
        String target = "tandem serve " + String.join(" ", s.serverArgs()) + " (one JVM per configuration)";
        return new BenchReport("Tandem serving comparison", info, target,
                s.modelLabel() != null ? s.modelLabel() : model, s.workload().describe() + "; arrival "
                + s.arrival().label(), s.simulated(), runs, notes, claims);
    }
}
