package dev.tandem.runtime.process;

import dev.tandem.core.TandemException;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The one way Tandem starts a child process (etcd, nats-server, a frontend or worker JVM, a
 * server under comparison, a test's fake worker): its output (stdout and stderr) appended to a log
 * file, a start that is awaited with a deadline (a log line, an open port or any condition, failing
 * early with the end of the log when the process exits), and a stop that cannot hang (SIGTERM, then
 * SIGKILL after a grace period; {@link #close()} gives it 10 s). It can be killed (SIGKILL) and
 * started again with the same command.
 *
 * <p>Safe for concurrent use.
 */
public class ChildProcess implements AutoCloseable {
    private final String name;
    private final List<String> command;
    private final Path log;
    private Process process; // guarded by this
    private long logStart;   // guarded by this: log size when the current run started

    public ChildProcess(String name, List<String> command, Path log) {
        this.name = name;
        this.command = List.copyOf(command);
        this.log = log;
    }

    /** What a short command ({@link #run}) did: its exit code and its output (stdout and stderr). */
    public record Finished(int exitCode, String output) {
        public boolean succeeded() {
            return exitCode == 0;
        }
    }

    /**
     * Runs a short command to its end (a tool such as {@code git}, {@code openssl}, {@code promtool}),
     * its output collected through a temporary file (no pipe to fill), its stdin empty.
     *
     * @param directory where it runs, or null for this process's directory
     * @param env       variables added to this process's environment
     * @throws TandemException if it cannot start, or has not ended within {@code timeout} (it is
     *                         then killed; the message holds its output so far)
     */
    public static Finished run(List<String> command, Path directory, Map<String, String> env, Duration timeout) {
        Path output = null;
        try {
            output = Files.createTempFile("tandem-run-", ".log");
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(output.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            if (directory != null) {
                pb.directory(directory.toFile());
            }
            pb.environment().putAll(env);
            Process p = pb.start();
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                throw new TandemException(String.join(" ", command) + " did not finish within " + timeout.toMillis()
                        + " ms; output:\n" + Files.readString(output, StandardCharsets.UTF_8));
            }
            return new Finished(p.exitValue(), Files.readString(output, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new TandemException("cannot run " + String.join(" ", command) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TandemException("interrupted running " + String.join(" ", command), e);
        } finally {
            if (output != null) {
                try {
                    Files.deleteIfExists(output);
                } catch (IOException ignored) {
                    // a temporary file left behind is harmless
                }
            }
        }
    }

    /** {@link #run(List, Path, Map, Duration)} in this directory with this environment. */
    public static Finished run(List<String> command, Duration timeout) {
        return run(command, null, Map.of(), timeout);
    }

    /** Starts a process and returns it running (not necessarily ready). */
    public static ChildProcess start(String name, List<String> command, Path log) {
        ChildProcess p = new ChildProcess(name, command, log);
        p.start();
        return p;
    }

    public String name() {
        return name;
    }

    public List<String> command() {
        return command;
    }

    public Path log() {
        return log;
    }

    /** Starts (or starts again) the command. */
    public synchronized void start() {
        if (process != null && process.isAlive()) {
            throw new IllegalStateException(name + " is already running (pid " + process.pid() + ")");
        }
        try {
            Files.createDirectories(log.toAbsolutePath().getParent());
            logStart = Files.exists(log) ? Files.size(log) : 0;
            process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
                    .start();
        } catch (IOException e) {
            throw new TandemException("cannot start " + name + " (" + command.getFirst() + "): " + e.getMessage(), e);
        }
    }

    public synchronized long pid() {
        return process == null ? -1 : process.pid();
    }

    public synchronized boolean isAlive() {
        return process != null && process.isAlive();
    }

    /** The exit code once the process has ended. */
    public synchronized OptionalInt exitCode() {
        return process == null || process.isAlive() ? OptionalInt.empty() : OptionalInt.of(process.exitValue());
    }

    /** SIGTERM, then SIGKILL if it has not exited within {@code grace}; waits for the exit. */
    public void stop(Duration grace) {
        if (!terminate(grace)) {
            kill();
        }
    }

    /**
     * SIGTERM (the process's shutdown hooks run), then waits up to {@code timeout} for the exit
     * without killing it.
     *
     * @return true if the process is not running (any more)
     */
    public boolean terminate(Duration timeout) {
        Process p = current();
        if (p == null || !p.isAlive()) {
            return true;
        }
        // ProcessHandle.destroy sends SIGTERM like Process.destroy
        p.toHandle().destroy();
        try {
            return p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            return false;
        }
    }

    /**
     * Sends the signal named {@code signal} ({@code INT} as Ctrl-C would, {@code STOP},
     * {@code CONT}) with kill(1); the JDK sends only TERM and KILL itself.
     *
     * @throws TandemException if the process is not running or kill(1) fails or hangs
     */
    public void signal(String signal) {
        long pid = pid();
        if (!isAlive()) {
            throw new TandemException(name + " is not running; cannot send SIG" + signal);
        }
        try {
            Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(pid))
                    .redirectErrorStream(true).start();
            if (!kill.waitFor(10, TimeUnit.SECONDS)) {
                kill.destroyForcibly();
                throw new TandemException("kill -" + signal + " " + pid + " did not finish within 10 s");
            }
            if (kill.exitValue() != 0) {
                throw new TandemException("kill -" + signal + " " + pid + " failed: "
                        + new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip());
            }
        } catch (IOException e) {
            throw new TandemException("cannot run kill -" + signal + " " + pid + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TandemException("interrupted while signalling " + name);
        }
    }

    /** Waits up to {@code timeout} for the process to end by itself; its exit code, or empty if it still runs. */
    public OptionalInt awaitExit(Duration timeout) {
        Process p = current();
        if (p == null) {
            return OptionalInt.empty();
        }
        try {
            p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return exitCode();
    }

    private synchronized Process current() {
        return process;
    }

    /** SIGKILL, as a crash would; waits for the exit. */
    public void kill() {
        Process p = current();
        if (p == null) {
            return;
        }
        try {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** What this run has written so far. */
    public String output() {
        long start;
        synchronized (this) {
            start = logStart;
        }
        try {
            byte[] all = Files.exists(log) ? Files.readAllBytes(log) : new byte[0];
            int from = (int) Math.min(start, all.length);
            return new String(all, from, all.length - from, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + log, e);
        }
    }

    /** The last {@code lines} lines of this run's output. */
    public String tail(int lines) {
        String[] all = output().split("\n");
        return String.join("\n", java.util.Arrays.copyOfRange(all, Math.max(0, all.length - lines), all.length));
    }

    /**
     * Waits until this run's output matches {@code pattern} and returns the match's first group
     * (or the whole match without groups).
     *
     * @throws TandemException if the process exits first or {@code timeout} passes, with the
     *                         end of its log
     */
    public String awaitOutput(Pattern pattern, Duration timeout) {
        String[] found = new String[1];
        awaitCondition("to print " + pattern.pattern(), timeout, () -> {
            Matcher m = pattern.matcher(output());
            if (m.find()) {
                found[0] = m.groupCount() > 0 ? m.group(1) : m.group();
                return true;
            }
            return false;
        });
        return found[0];
    }

    /**
     * Waits until {@code host:port} accepts TCP connections while the process runs.
     *
     * @throws TandemException if the process exits first or {@code timeout} passes, with the
     *                         end of its log
     */
    public void awaitPort(String host, int port, Duration timeout) {
        awaitCondition("to accept connections on " + host + ":" + port, timeout,
                () -> FreePorts.accepts(host, port, 500));
    }

    /**
     * Waits for {@code condition} while the process runs.
     *
     * @throws TandemException if the process exits first or {@code timeout} passes
     */
    public void awaitCondition(String what, Duration timeout, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (!isAlive()) {
                throw new TandemException(name + " exited (code " + exitCode().orElse(-1) + ") while waiting for it "
                        + what + "; end of " + log + ":\n" + tail(20));
            }
            if (System.nanoTime() - deadline > 0) {
                throw new TandemException(name + " did not " + what.replaceFirst("^to ", "") + " within "
                        + timeout.toMillis() + " ms; end of " + log + ":\n" + tail(20));
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new TandemException("interrupted while waiting for " + name);
            }
        }
    }

    /** Stops with a 10 s grace period. */
    @Override
    public void close() {
        stop(Duration.ofSeconds(10));
    }

    @Override
    public String toString() {
        return name + "[pid " + pid() + "]";
    }
}
