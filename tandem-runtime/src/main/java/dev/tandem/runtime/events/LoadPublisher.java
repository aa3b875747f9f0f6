package dev.tandem.runtime.events;

import dev.tandem.core.LoadReport;
import dev.tandem.runtime.RuntimeConfig;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

import static java.lang.System.Logger.Level.WARNING;

/**
 * Publishes a worker's {@link LoadReport} on {@code tandem.{ns}.load.{workerId}} every
 * {@code loadReportIntervalMs}. Reports are snapshots, so one lost while the bus is down needs no
 * repair: the next one replaces it.
 *
 * <p>Owns one daemon thread; safe for concurrent use.
 */
public final class LoadPublisher implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(LoadPublisher.class.getName());

    private final EventBus bus;
    private final String subject;
    private final String workerId;
    private final Supplier<LoadReport> source;
    private final long intervalMs;
    private final Thread thread;
    /** Read by tests and metrics on other threads. */
    private final AtomicLong published = new AtomicLong();
    /** Set by close(); read by the publishing thread. */
    private volatile boolean closed;

    public LoadPublisher(EventBus bus, String workerId, Supplier<LoadReport> source, RuntimeConfig config) {
        this.bus = bus;
        this.workerId = workerId;
        this.subject = Subjects.load(config.namespace(), workerId);
        this.source = source;
        this.intervalMs = config.loadReportIntervalMs();
        this.thread = Thread.ofPlatform().daemon().name("tandem-load-" + workerId).start(this::run);
    }

    private void run() {
        while (!closed) {
            try {
                if (bus.publish(subject, EventCodec.encode(new WorkerEventMessage.LoadUpdate(workerId, source.get())))) {
                    published.incrementAndGet();
                }
                Thread.sleep(intervalMs);
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                LOG.log(WARNING, "[worker=" + workerId + "] cannot publish load", e);
                try {
                    Thread.sleep(intervalMs);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    public long publishedReports() {
        return published.get();
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        try {
            thread.join(1_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
