package dev.tandem.runtime.rpc;

import dev.tandem.runtime.RuntimeConfig;

/**
 * A worker process for tests that need to kill one: serves a {@link FakeEngine} on a free port,
 * prints {@code PORT <n>} and runs until killed. Argument: milliseconds between tokens.
 */
public final class FakeWorkerMain {
    private FakeWorkerMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        FakeEngine engine = new FakeEngine(Long.parseLong(args[0]));
        WorkerRpcServer server = WorkerRpcServer.start("127.0.0.1", 0, engine, null, RuntimeConfig.defaults());
        System.out.println("PORT " + server.port());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
