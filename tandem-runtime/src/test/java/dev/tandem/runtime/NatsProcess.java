package dev.tandem.runtime;

import dev.tandem.runtime.process.NatsServer;
import dev.tandem.runtime.process.ServerProcess;

/** A real nats-server on a free loopback port. */
public final class NatsProcess extends ExternalProcess {
    private NatsServer nats;

    private NatsProcess() {
        super("nats");
    }

    /** A started nats-server; skips the test (or fails it, see {@link Prerequisites}) without one on the PATH. */
    public static NatsProcess started() {
        Prerequisites.natsServer();
        return startedOrClosed(new NatsProcess());
    }

    public String url() {
        return nats.url();
    }

    @Override
    protected ServerProcess launch() {
        nats = NatsServer.start(workDir, "127.0.0.1");
        return nats;
    }
}
