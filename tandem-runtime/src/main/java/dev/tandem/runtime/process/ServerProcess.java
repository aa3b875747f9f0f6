package dev.tandem.runtime.process;

import java.time.Duration;

/**
 * A server binary run as a child process (etcd, NATS) that the cluster and the tests stop, kill
 * and start again on the same ports; each subclass says when it is ready.
 */
public abstract sealed class ServerProcess implements AutoCloseable permits EtcdServer, NatsServer {
    private static final Duration STOP_GRACE = Duration.ofSeconds(10);

    protected final ChildProcess process;

    ServerProcess(ChildProcess process) {
        this.process = process;
    }

    /** Waits until the server answers, or fails naming what it waited for. */
    abstract void awaitReady();

    /** Starts a new server's process and waits until it is ready; kills it if it never is. */
    static <S extends ServerProcess> S launch(S server) {
        try {
            server.start();
        } catch (RuntimeException e) {
            server.kill();
            throw e;
        }
        return server;
    }

    public ChildProcess process() {
        return process;
    }

    /** Stops (SIGTERM) and starts again on the same ports and data; waits until ready. */
    public void restart() {
        stop();
        start();
    }

    public void stop() {
        process.stop(STOP_GRACE);
    }

    /** SIGKILL, as a crash would. */
    public void kill() {
        process.kill();
    }

    /** Starts again after {@link #stop()} or {@link #kill()}, on the same ports; waits until ready. */
    public void start() {
        process.start();
        awaitReady();
    }

    @Override
    public void close() {
        stop();
    }
}
