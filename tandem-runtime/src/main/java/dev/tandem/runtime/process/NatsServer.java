package dev.tandem.runtime.process;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** A NATS server (the {@code nats-server} binary from PATH), core NATS only, on one address. */
public final class NatsServer extends ServerProcess {
    /** Longest wait for the server to accept connections after a start. */
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(30);

    private final String host;
    private final int port;

    private NatsServer(ChildProcess process, String host, int port) {
        super(process);
        this.host = host;
        this.port = port;
    }

    /**
     * Starts nats-server and waits until it accepts connections.
     *
     * @param dir  holds {@code nats.log}
     * @param host the address it listens on (0.0.0.0 for all)
     */
    public static NatsServer start(Path dir, String host) {
        int port = FreePorts.next();
        ChildProcess p = new ChildProcess("nats-server",
                List.of("nats-server", "-a", host, "-p", Integer.toString(port)), dir.resolve("nats.log"));
        return launch(new NatsServer(p, host, port));
    }

    @Override
    void awaitReady() {
        String probe = host.equals("0.0.0.0") ? "127.0.0.1" : host;
        process.awaitPort(probe, port, READY_TIMEOUT);
    }

    /** {@code nats://host:port}; for a server on 0.0.0.0, on loopback. */
    public String url() {
        return urlOn(host.equals("0.0.0.0") ? "127.0.0.1" : host);
    }

    /** {@code nats://host:port} on one of the addresses it listens on. */
    public String urlOn(String address) {
        return "nats://" + address + ":" + port;
    }

    public int port() {
        return port;
    }
}
