package dev.tandem.bench;

import dev.tandem.core.TandemException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A server started in its own process for a comparison: launched on a free loopback port with
 * its output going to a log file, ready once {@code GET /ready} answers 200 (or, for servers
 * without {@code /ready}, {@code GET /v1/models}), and stopped with SIGTERM, then SIGKILL if it
 * does not exit within the grace period. Owned by the comparison's thread.
 */
final class ComparedServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(ComparedServer.class.getName());
    private static final Duration STOP_GRACE = Duration.ofSeconds(30);
    private static final Duration POLL_TIMEOUT = Duration.ofSeconds(2);

    /** The server did not come up: it exited (unsupported option, bad model) or never became ready. */
    static final class StartFailure extends TandemException {
        StartFailure(String message) {
            super(message);
        }
    }

    private final Process process;
    private final String url;
    private final Path log;
    private final List<String> command;

    private ComparedServer(Process process, String url, Path log, List<String> command) {
        this.process = process;
        this.url = url;
        this.log = log;
        this.command = command;
    }

    /**
     * Starts {@code launcher + args + --host 127.0.0.1 --port <free>} and waits until it is ready.
     *
     * @throws StartFailure when it exits or is not ready within {@code readyTimeout} (it is then stopped)
     */
    static ComparedServer start(ServerLauncher launcher, List<String> args, Path log, Duration readyTimeout) {
        int port = freePort();
        List<String> command = new ArrayList<>(launcher.commandPrefix());
        command.addAll(args);
        command.addAll(List.of("--host", "127.0.0.1", "--port", Integer.toString(port)));
        Process p;
        try {
            Files.createDirectories(log.toAbsolutePath().getParent());
            p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        } catch (IOException e) {
            throw new StartFailure("cannot start " + String.join(" ", command) + ": " + e.getMessage());
        }
        ComparedServer server = new ComparedServer(p, "http://127.0.0.1:" + port, log, command);
        try {
            server.awaitReady(readyTimeout);
            return server;
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
    }

    private void awaitReady(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (StreamingClient probe = new StreamingClient(url, POLL_TIMEOUT, null)) {
            while (System.nanoTime() < deadline) {
                if (!process.isAlive()) {
                    throw new StartFailure("exited with status " + process.exitValue() + ": " + firstError());
                }
                int ready = probe.status("/ready", POLL_TIMEOUT);
                if (ready == 200 || (ready == 404 && probe.status("/v1/models", POLL_TIMEOUT) == 200)) {
                    return;
                }
                sleep(200);
            }
        }
        throw new StartFailure("not ready within " + timeout.toSeconds() + " s: " + tail(6));
    }

    String url() {
        return url;
    }

    List<String> command() {
        return command;
    }

    /** The first line of the server's output that reads like an error, else its last lines. */
    String firstError() {
        try {
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                String l = line.strip();
                if (l.startsWith("error") || l.startsWith("Unknown option") || l.startsWith("Missing")
                        || l.startsWith("Invalid value") || l.contains("Exception")) {
                    return l;
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            // fall back to the tail
        }
        return tail(3);
    }

    /** The last {@code lines} lines of the server's output, joined by " / ". */
    String tail(int lines) {
        try {
            List<String> all = Files.readAllLines(log, StandardCharsets.UTF_8);
            return String.join(" / ", all.subList(Math.max(0, all.size() - lines), all.size())).strip();
        } catch (IOException | java.io.UncheckedIOException e) {
            return "(no output: " + e.getMessage() + ")";
        }
    }

    @Override
    public void close() {
        if (!process.isAlive()) {
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(STOP_GRACE.toSeconds(), TimeUnit.SECONDS)) {
                LOG.log(System.Logger.Level.WARNING, "server {0} ignored SIGTERM for {1} s; killing it", url,
                        STOP_GRACE.toSeconds());
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new TandemException("cannot find a free port: " + e.getMessage(), e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TandemException("interrupted while waiting for a server", e);
        }
    }
}
