package dev.tandem.runtime;

import dev.tandem.runtime.process.EtcdServer;
import dev.tandem.runtime.process.ServerProcess;
import java.util.List;

/** A real single-member etcd on free loopback ports with a temporary data directory. */
public final class EtcdProcess extends ExternalProcess {
    private EtcdServer etcd;

    private EtcdProcess() {
        super("etcd");
    }

    /** A started etcd; skips the test (or fails it, see {@link Prerequisites}) without etcd on the PATH. */
    public static EtcdProcess started() {
        Prerequisites.etcd();
        return startedOrClosed(new EtcdProcess());
    }

    /** The client endpoint, {@code http://127.0.0.1:port}. */
    public String endpoint() {
        return etcd.clientUrl();
    }

    @Override
    protected ServerProcess launch() {
        etcd = EtcdServer.start(workDir, List.of("127.0.0.1"));
        return etcd;
    }
}
