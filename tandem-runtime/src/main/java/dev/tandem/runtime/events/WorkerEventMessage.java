package dev.tandem.runtime.events;

import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import java.util.List;
import java.util.Objects;

/** What a worker publishes on the event plane ({@link EventCodec} is the wire form). */
public sealed interface WorkerEventMessage permits WorkerEventMessage.KvEventBatch, WorkerEventMessage.LoadUpdate {

    /** The publishing worker's instance id. */
    String workerId();

    /**
     * KV events of one worker, in event-id order (consecutive unless events were dropped).
     *
     * @param events at least one event
     */
    record KvEventBatch(String workerId, List<KvEvent> events) implements WorkerEventMessage {
        public KvEventBatch {
            Objects.requireNonNull(workerId, "workerId");
            events = List.copyOf(events);
            if (events.isEmpty()) {
                throw new IllegalArgumentException("empty KV event batch from " + workerId);
            }
        }
    }

    /** A worker's current load. */
    record LoadUpdate(String workerId, LoadReport report) implements WorkerEventMessage {
        public LoadUpdate {
            Objects.requireNonNull(workerId, "workerId");
            Objects.requireNonNull(report, "report");
        }
    }
}
