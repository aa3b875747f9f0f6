package dev.tandem.runtime;

import dev.tandem.runtime.process.FreePorts;
import dev.tandem.runtime.process.ServerProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * One real server (etcd, nats-server) for tests: a {@link ServerProcess} with its data and log in
 * a temporary directory under target/, removed on close.
 */
public abstract class ExternalProcess implements AutoCloseable {
    protected final Path workDir;
    private ServerProcess server;

    protected ExternalProcess(String name) {
        try {
            Path target = Path.of("target");
            Files.createDirectories(target);
            this.workDir = Files.createTempDirectory(target.toAbsolutePath(), name + "-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Starts the server in {@link #workDir} and waits until it is ready. */
    protected abstract ServerProcess launch();

    /** Launches {@code p}'s server and returns {@code p}; if it does not become ready, removes its directory and rethrows. */
    protected static <P extends ExternalProcess> P startedOrClosed(P p) {
        try {
            ExternalProcess base = p;
            base.server = base.launch();
        } catch (RuntimeException | Error e) {
            p.close();
            throw e;
        }
        return p;
    }

    /** Starts again after {@link #stop()} or {@link #kill()}, on the same ports; waits until ready. */
    public final void start() {
        server.start();
    }

    /** SIGTERM and wait for the exit (SIGKILL after a grace period). */
    public final void stop() {
        server.stop();
    }

    /** SIGKILL and wait for the exit. */
    public final void kill() {
        server.kill();
    }

    public final void restart() {
        server.restart();
    }

    @Override
    public void close() {
        if (server != null) {
            server.close();
        }
        try (Stream<Path> files = Files.walk(workDir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // leave the directory under target/
        }
    }

    public static int freePort() {
        return FreePorts.next();
    }

    public static void waitFor(BooleanSupplier condition, long timeoutMs, String message) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError(message);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted: " + message);
            }
        }
    }
}
