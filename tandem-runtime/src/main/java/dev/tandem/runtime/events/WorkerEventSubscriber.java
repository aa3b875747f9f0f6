package dev.tandem.runtime.events;

import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.core.ProtocolException;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static java.lang.System.Logger.Level.WARNING;

/**
 * Router side of the event plane: subscribes to every worker's KV events and load reports in a
 * namespace, decodes them and hands them to a {@link Listener}. A message that does not decode,
 * or whose worker id disagrees with its subject, is logged and dropped (the router then sees a
 * gap in that worker's event ids and resyncs by snapshot).
 *
 * <p>Safe for concurrent use; the listener is called on the bus's threads, serially per subject
 * pattern (KV events and load reports may arrive concurrently with each other).
 */
public final class WorkerEventSubscriber implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(WorkerEventSubscriber.class.getName());

    /** Receives decoded events. Must not block for long. */
    public interface Listener {
        /** Events of one worker, in the order published. */
        void onKvEvents(String workerId, List<KvEvent> events);

        void onLoad(String workerId, LoadReport report);
    }

    private final EventSubscription kv;
    private final EventSubscription load;
    /** Read by metrics on any thread; incremented on bus threads. */
    private final AtomicLong malformed = new AtomicLong();

    public WorkerEventSubscriber(EventBus bus, String namespace, Listener listener) {
        this.kv = bus.subscribe(Subjects.allKv(namespace), (subject, payload) -> {
            if (decode(subject, payload) instanceof WorkerEventMessage.KvEventBatch b) {
                listener.onKvEvents(b.workerId(), b.events());
            }
        });
        this.load = bus.subscribe(Subjects.allLoad(namespace), (subject, payload) -> {
            if (decode(subject, payload) instanceof WorkerEventMessage.LoadUpdate l) {
                listener.onLoad(l.workerId(), l.report());
            }
        });
    }

    private WorkerEventMessage decode(String subject, byte[] payload) {
        try {
            WorkerEventMessage m = EventCodec.decode(payload);
            String expected = Subjects.lastToken(subject);
            if (!m.workerId().equals(expected)) {
                throw new ProtocolException("message from worker '" + m.workerId() + "' on subject " + subject);
            }
            return m;
        } catch (ProtocolException e) {
            if (malformed.getAndIncrement() % 1_000 == 0) {
                LOG.log(WARNING, "dropping undecodable event message on {0}: {1}", subject, e.getMessage());
            }
            return null;
        }
    }

    /** Messages dropped because they did not decode. */
    public long malformedMessages() {
        return malformed.get();
    }

    @Override
    public void close() {
        kv.close();
        load.close();
    }
}
