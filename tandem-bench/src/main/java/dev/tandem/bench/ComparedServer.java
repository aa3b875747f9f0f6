package dev.tandem.bench;

import dev.tandem.core.TandemException;
import dev.tandem.runtime.process.ChildProcess;
import dev.tandem.runtime.process.FreePorts;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A server started in its own process for a comparison: launched on a free loopback port with
 * its output going to a log file (a {@link ChildProcess}), ready once {@code GET /ready} answers
 * 200 (or, for servers without {@code /ready}, {@code GET /v1/models}), and stopped with SIGTERM,
 * then SIGKILL if it does not exit within the grace period. Owned by the comparison's thread.
 */
final class ComparedServer implements AutoCloseable {
    private static final Duration STOP_GRACE = Duration.ofSeconds(30);
    private static final Duration POLL_TIMEOUT = Duration.ofSeconds(2);

    /** The server did not come up: it exited (unsupported option, bad model) or never became ready. */
    static final class StartFailure extends TandemException {
        StartFailure(String message) {
            super(message);
        }
    }

    private final ChildProcess process;
    private final String url;

    private ComparedServer(ChildProcess process, String url) {
        this.process = process;
        this.url = url;
    }

    /**
     * Starts {@code launcher + args + --host 127.0.0.1 --port <free>} and waits until it is ready.
     *
     * @throws StartFailure when it exits or is not ready within {@code readyTimeout} (it is then stopped)
     */
    static ComparedServer start(ServerLauncher launcher, List<String> args, Path log, Duration readyTimeout) {
        int port = FreePorts.next();
        List<String> command = new ArrayList<>(launcher.commandPrefix());
        command.addAll(args);
        command.addAll(List.of("--host", "127.0.0.1", "--port", Integer.toString(port)));
        ChildProcess p;
        try {
            p = ChildProcess.start("server", command, log);
        } catch (TandemException e) {
            throw new StartFailure(e.getMessage());
        }
        ComparedServer server = new ComparedServer(p, "http://127.0.0.1:" + port);
        try {
            server.awaitReady(readyTimeout);
            return server;
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
    }

    private void awaitReady(Duration timeout) {
        try (StreamingClient probe = new StreamingClient(url, POLL_TIMEOUT, null)) {
            process.awaitCondition("to answer /ready", timeout, () -> {
                int ready = probe.status("/ready", POLL_TIMEOUT);
                return ready == 200 || (ready == 404 && probe.status("/v1/models", POLL_TIMEOUT) == 200);
            });
        } catch (StartFailure e) {
            throw e;
        } catch (TandemException e) {
            throw process.isAlive()
                    ? new StartFailure("not ready within " + timeout.toSeconds() + " s: " + tail(6))
                    : new StartFailure("exited with status " + process.exitCode().orElse(-1) + ": " + firstError());
        }
    }

    String url() {
        return url;
    }

    List<String> command() {
        return process.command();
    }

    /** The first line of the server's output that reads like an error, else its last lines. */
    String firstError() {
        try {
            for (String line : process.output().split("\n")) {
                String l = line.strip();
                if (l.startsWith("error") || l.startsWith("Unknown option") || l.startsWith("Missing")
                        || l.startsWith("Invalid value") || l.contains("Exception")) {
                    return l;
                }
            }
        } catch (java.io.UncheckedIOException e) {
            // fall back to the tail
        }
        return tail(3);
    }

    /** The last {@code lines} lines of the server's output, joined by " / ". */
    String tail(int lines) {
        try {
            return String.join(" / ", process.tail(lines).split("\n")).strip();
        } catch (java.io.UncheckedIOException e) {
            return "(no output: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() {
        process.stop(STOP_GRACE);
    }
}
