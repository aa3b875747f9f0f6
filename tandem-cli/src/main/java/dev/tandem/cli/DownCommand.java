package dev.tandem.cli;

import dev.tandem.cli.cluster.ClusterFile;
import dev.tandem.cli.cluster.ClusterState;
import dev.tandem.core.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code tandem down}: stops a cluster started by {@code tandem up}. Asks the {@code up} process
 * to stop (it stops its parts in order); if that process is gone, stops the parts it recorded.
 */
@Command(name = "down", mixinStandardHelpOptions = true,
        description = "Stop a cluster started by 'tandem up' (by its file, --name or --state-dir).")
final class DownCommand implements Callable<Integer> {
    /** How long the up process may take to stop its parts. */
    static final long UP_STOP_TIMEOUT_S = 90;
    /** How long a part may take to stop after SIGTERM before SIGKILL. */
    static final long PART_STOP_TIMEOUT_S = 20;

    @Parameters(index = "0", arity = "0..1", paramLabel = "FILE", description = "the cluster file given to 'tandem up'")
    Path file;

    @Option(names = "--name", description = "the cluster's name (instead of FILE)")
    String name;

    @Option(names = "--state-dir", description = "the state directory given to 'tandem up'")
    Path stateDir;

    @Override
    public Integer call() {
        Path dir = stateDir();
        Optional<ClusterState> state = ClusterState.read(dir);
        if (state.isEmpty()) {
            throw new ConfigException("no cluster is up with state in " + dir + " (nothing to stop)");
        }
        ClusterState s = state.get();
        Optional<ProcessHandle> up = s.up().handle();
        if (up.isPresent()) {
            up.get().destroy();
            await(up.get(), UP_STOP_TIMEOUT_S);
        }
        int stopped = 0;
        for (ClusterState.Member m : s.children()) {
            Optional<ProcessHandle> h = m.handle();
            if (h.isPresent()) {
                h.get().destroy();
                if (!await(h.get(), PART_STOP_TIMEOUT_S)) {
                    h.get().destroyForcibly();
                    await(h.get(), 10);
                }
                stopped++;
            }
        }
        try {
            Files.deleteIfExists(dir.resolve(ClusterState.FILE));
        } catch (IOException e) {
            throw new ConfigException("cannot delete " + dir.resolve(ClusterState.FILE) + ": " + e.getMessage());
        }
        System.out.printf("Tandem cluster '%s' stopped%s%n", s.name(),
                stopped == 0 ? "" : " (" + stopped + " part" + (stopped == 1 ? "" : "s") + " stopped directly)");
        return 0;
    }

    private Path stateDir() {
        if (stateDir != null) {
            return stateDir;
        }
        if (name != null) {
            return ClusterState.defaultDir(name);
        }
        if (file != null) {
            return ClusterState.defaultDir(ClusterFile.read(file).name());
        }
        throw new ConfigException("say which cluster to stop: its file, --name NAME or --state-dir DIR");
    }

    private static boolean await(ProcessHandle h, long seconds) {
        try {
            h.onExit().get(seconds, TimeUnit.SECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        } catch (java.util.concurrent.ExecutionException e) {
            return !h.isAlive();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return !h.isAlive();
        }
    }
}
