package dev.tandem.runtime.kvevents;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The ZeroMQ messages of vLLM's KV event publisher ({@code --kv-events-config} with publisher
 * {@code zmq}; vllm/distributed/kv_events.py, ZmqEventPublisher).
 *
 * <pre>
 * PUB socket, one multipart message per batch:
 *   frame 0   topic       bytes (the configured topic, often empty; SUB filters on it)
 *   frame 1   seq         8 bytes, big-endian signed, 0, 1, 2, ... per publisher
 *   frame 2   payload     MessagePack batch (VllmEventDecoder)
 *
 * ROUTER socket (replay_endpoint), asked by a DEALER:
 *   request   | empty | start seq (8 bytes, big-endian) |
 *   replies   | empty | seq (8 bytes) | payload |      one per buffered batch with seq >= start
 *             | empty | -1  (8 bytes) | empty |        end of the replay
 *   The publisher keeps its last buffer_steps batches (10,000 by default); older ones are gone.
 * </pre>
 *
 * <p>A message of another shape is malformed: counted and dropped by the subscriber.
 */
final class VllmEventFrame {
    static final int TOPIC_FRAME = 0;
    static final int SEQ_FRAME = TOPIC_FRAME + 1;
    static final int PAYLOAD_FRAME = SEQ_FRAME + 1;
    static final int FRAMES = PAYLOAD_FRAME + 1;

    static final int SEQ_BYTES = Long.BYTES;
    /** The replay's end-of-stream sequence number. */
    static final long END_OF_REPLAY = -1;

    private VllmEventFrame() {
    }

    /** The sequence number in an 8-byte frame. */
    static long seq(byte[] frame) {
        return ByteBuffer.wrap(frame).order(ByteOrder.BIG_ENDIAN).getLong();
    }

    static byte[] seqFrame(long seq) {
        return ByteBuffer.allocate(SEQ_BYTES).order(ByteOrder.BIG_ENDIAN).putLong(seq).array();
    }
}
