package dev.tandem.cli;

import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Keeps a long-running command in the foreground until Ctrl-C (SIGINT), SIGTERM or
 * {@link #stop()}, then closes its parts in the given order, once, whichever came first.
 */
final class Foreground {
    private static final System.Logger LOG = System.getLogger(Foreground.class.getName());

    private final CountDownLatch stop = new CountDownLatch(1);
    private final AtomicBoolean closed = new AtomicBoolean();

    /** Asks the command to stop (tests; {@code tandem down} sends SIGTERM instead). */
    void stop() {
        stop.countDown();
    }

    /** True once {@link #stop()} was called or a stop signal arrived (also while the parts are closing). */
    boolean stopping() {
        return stop.getCount() == 0 || closed.get();
    }

    /**
     * Blocks until asked to stop, then closes {@code parts} in order (each failure logged, the
     * rest still closed) and prints {@code goodbye}.
     */
    void run(String name, List<AutoCloseable> parts, String goodbye) throws InterruptedException {
        Runnable shutdown = () -> {
            if (closed.compareAndSet(false, true)) {
                for (AutoCloseable part : parts) {
                    try {
                        part.close();
                    } catch (Exception e) {
                        LOG.log(System.Logger.Level.WARNING, "closing " + part.getClass().getSimpleName() + " failed", e);
                    }
                }
                System.out.println(goodbye);
                System.out.flush();
            }
        };
        Thread hook = Thread.ofPlatform().name("tandem-" + name + "-shutdown").unstarted(() -> {
            shutdown.run();
            stop.countDown();
        });
        Runtime.getRuntime().addShutdownHook(hook);
        stop.await();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // the JVM is shutting down: the hook runs (or ran) the same shutdown
        }
        shutdown.run();
    }
}
