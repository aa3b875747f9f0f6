package dev.tandem.cli.cluster;

import dev.tandem.core.TandemException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One process a local cluster runs (etcd, nats-server, a frontend or worker JVM), with its output
 * (stdout and stderr) appended to a log file. It can be stopped gently (SIGTERM, then SIGKILL
 * after a grace period), killed (SIGKILL) and started again with the same command.
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
        Process p;
        synchronized (this) {
            p = process;
        }
        if (p == null || !p.isAlive()) {
            return;
        }
        p.toHandle().destroy();
        try {
            if (!p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
        }
    }

    /** SIGKILL, as a crash would; waits for the exit. */
    public void kill() {
        Process p;
        synchronized (this) {
            p = process;
        }
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
