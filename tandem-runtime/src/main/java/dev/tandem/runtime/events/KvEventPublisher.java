package dev.tandem.runtime.events;

import dev.tandem.core.KvEvent;
import dev.tandem.core.KvEventListener;
import dev.tandem.runtime.RuntimeConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * Worker side of the KV event stream: takes the engine's KV events, batches them and publishes
 * them on {@code tandem.{ns}.kv.{workerId}}.
 *
 * <h2>Design</h2>
 * The engine calls {@link #onKvEvent} on its scheduler thread; the event goes into a bounded
 * queue and the call returns at once. One publisher thread takes the first waiting event, waits
 * at most {@code eventsFlushIntervalMs} for more, and publishes everything it has (up to
 * {@link #MAX_BATCH_BYTES}) as one {@link WorkerEventMessage.KvEventBatch}.
 *
 * <p>Events are never renumbered and never buffered across an outage: when the bus refuses a
 * batch (NATS disconnected) or the queue is full, those events are dropped and counted. The
 * engine's numbering continues, so the first batch after the outage starts past a gap; the
 * router sees the gap and asks the worker for a {@link dev.tandem.core.KvSnapshot}. Publishing
 * resumes by itself once the bus reconnects.
 *
 * <h2>Concurrency</h2>
 * {@link #onKvEvent} from any one thread (the engine's); everything else from any thread. The
 * publisher thread owns batching.
 */
public final class KvEventPublisher implements KvEventListener, AutoCloseable {
    private static final System.Logger LOG = System.getLogger(KvEventPublisher.class.getName());
    /** Largest batch, bytes: well under NATS's default 1 MiB max payload. */
    public static final int MAX_BATCH_BYTES = 256 * 1024;

    private final EventBus bus;
    private final String subject;
    private final String workerId;
    private final long flushIntervalNs;
    private final ArrayBlockingQueue<KvEvent> queue;
    private final Thread publisher;
    /** Counters read by any thread (metrics, tests); written by the engine and publisher threads. */
    private final AtomicLong publishedEvents = new AtomicLong();
    private final AtomicLong droppedEvents = new AtomicLong();
    private final AtomicLong publishedBatches = new AtomicLong();
    private boolean outage; // publisher thread only
    private long droppedAtOutageStart; // publisher thread only
    /** Set by close(); read by the publisher thread. */
    private volatile boolean closed;

    public KvEventPublisher(EventBus bus, String workerId, RuntimeConfig config) {
        this.bus = bus;
        this.workerId = workerId;
        this.subject = Subjects.kv(config.namespace(), workerId);
        this.flushIntervalNs = TimeUnit.MILLISECONDS.toNanos(config.eventsFlushIntervalMs());
        this.queue = new ArrayBlockingQueue<>(config.eventsQueueCapacity());
        this.publisher = Thread.ofPlatform().daemon().name("tandem-kv-events-" + workerId).start(this::run);
    }

    /** Called by the engine: queue and return. A full queue drops the event (the router will resync). */
    @Override
    public void onKvEvent(KvEvent event) {
        if (!queue.offer(event)) {
            droppedEvents.incrementAndGet();
        }
    }

    private void run() {
        List<KvEvent> batch = new ArrayList<>();
        int overhead = EventCodec.batchOverhead(workerId);
        KvEvent carried = null;
        while (!closed) {
            try {
                KvEvent first = carried != null ? carried : queue.poll(100, TimeUnit.MILLISECONDS);
                carried = null;
                if (first == null) {
                    continue;
                }
                batch.add(first);
                int bytes = overhead + EventCodec.encodedSize(first);
                long deadline = System.nanoTime() + flushIntervalNs;
                while (true) {
                    long waitNs = deadline - System.nanoTime();
                    KvEvent next = waitNs > 0 ? queue.poll(waitNs, TimeUnit.NANOSECONDS) : queue.poll();
                    if (next == null) {
                        break;
                    }
                    int size = EventCodec.encodedSize(next);
                    if (bytes + size > MAX_BATCH_BYTES) {
                        carried = next;
                        break;
                    }
                    batch.add(next);
                    bytes += size;
                }
                publish(batch);
                batch.clear();
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                LOG.log(WARNING, "[worker=" + workerId + "] KV event publishing failed; dropping " + batch.size()
                        + " events", e);
                droppedEvents.addAndGet(batch.size());
                batch.clear();
            }
        }
    }

    private void publish(List<KvEvent> batch) {
        byte[] bytes = EventCodec.encode(new WorkerEventMessage.KvEventBatch(workerId, batch));
        if (bus.publish(subject, bytes)) {
            publishedEvents.addAndGet(batch.size());
            publishedBatches.incrementAndGet();
            if (outage) {
                outage = false;
                LOG.log(INFO, "[worker={0}] event plane back: publishing again from KV event {1} ({2} events dropped)",
                        workerId, batch.getFirst().eventId(), droppedEvents.get() - droppedAtOutageStart);
            }
        } else {
            if (!outage) {
                outage = true;
                droppedAtOutageStart = droppedEvents.get();
                LOG.log(WARNING, "[worker={0}] event plane unavailable: dropping KV events from {1}; routers will "
                        + "resynchronise by snapshot", workerId, batch.getFirst().eventId());
            }
            droppedEvents.addAndGet(batch.size());
        }
    }

    public long publishedEvents() {
        return publishedEvents.get();
    }

    public long droppedEvents() {
        return droppedEvents.get();
    }

    public long publishedBatches() {
        return publishedBatches.get();
    }

    /** Events waiting to be published. */
    public int queuedEvents() {
        return queue.size();
    }

    /** Stops the publisher thread; queued events are dropped. Idempotent. */
    @Override
    public void close() {
        closed = true;
        publisher.interrupt();
        try {
            publisher.join(1_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
