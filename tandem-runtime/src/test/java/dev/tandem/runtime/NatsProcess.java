package dev.tandem.runtime;

import java.util.List;

/** A real nats-server on a free loopback port. */
public final class NatsProcess extends ExternalProcess {
    private final int port = freePort();

    private NatsProcess() {
        super("nats");
    }

    /** A started nats-server; skips the test (or fails it, see {@link Prerequisites}) without one on the PATH. */
    public static NatsProcess started() {
        Prerequisites.natsServer();
        return startedOrClosed(new NatsProcess());
    }

    public String url() {
        return "nats://127.0.0.1:" + port;
    }

    @Override
    protected String name() {
        return "nats-server";
    }

    @Override
    protected List<String> command() {
        return List.of("nats-server", "-a", "127.0.0.1", "-p", Integer.toString(port));
    }

    @Override
    protected boolean ready() {
        return canConnect(port);
    }
}
