package dev.tandem.runtime.events;

import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.core.ProtocolException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Binary wire form of {@link WorkerEventMessage}s: compact, versioned, hand-written.
 *
 * <pre>
 * Every message, little-endian, packed (no alignment, no padding):
 *
 *   offset 0  | version u8 (= 1) | type u8 | workerIdLength u16 | workerId UTF-8 [workerIdLength] | body |
 *             VERSION_OFFSET = 0, TYPE_OFFSET = 1, WORKER_ID_LENGTH_OFFSET = 2, WORKER_ID_OFFSET = 4
 *
 *   type 1 KV_EVENTS body:
 *     | eventCount u32 | event [eventCount] |
 *     event = | kind u8 | eventId i64 | kind-specific |
 *       kind 1 STORED   | flags u8 (bit 0 = hasParent) | parentHash i64 | blockCount u32 |
 *                       | sequenceHash i64 [blockCount] | localHash i64 [blockCount] |
 *       kind 2 REMOVED  | blockCount u32 | sequenceHash i64 [blockCount] |
 *       kind 3 CLEARED  (nothing)
 *
 *   type 2 LOAD body (44 bytes):
 *     | totalBlocks i32 | activeBlocks i32 | cachedBlocks i32 | runningSequences i32 | waitingSequences i32 |
 *     | queuedPrefillTokens i64 | promptTokens i64 | cachedPromptTokens i64 |
 * </pre>
 *
 * <p>Unknowns: a version other than 1, an unknown message type or an unknown event kind is a
 * {@link ProtocolException} (not an {@code Unknown} record): events are state changes, and a
 * consumer that skipped one it cannot read would hold a wrong index, so it must drop the whole
 * message, which shows up as a gap and is repaired by a snapshot. Truncated input, counts larger
 * than the remaining bytes, invalid UTF-8 and trailing bytes are ProtocolExceptions too.
 *
 * <p>Stateless; safe for concurrent use.
 */
public final class EventCodec {
    public static final int VERSION = 1;
    public static final int TYPE_KV_EVENTS = 1;
    public static final int TYPE_LOAD = 2;
    static final int KIND_STORED = 1;
    static final int KIND_REMOVED = 2;
    static final int KIND_CLEARED = 3;

    static final int VERSION_OFFSET = 0;
    static final int TYPE_OFFSET = VERSION_OFFSET + Byte.BYTES;
    static final int WORKER_ID_LENGTH_OFFSET = TYPE_OFFSET + Byte.BYTES;
    static final int WORKER_ID_OFFSET = WORKER_ID_LENGTH_OFFSET + Short.BYTES;
    /** Bytes of an event before its kind-specific part: kind u8 + eventId i64. */
    static final int EVENT_HEADER_BYTES = Byte.BYTES + Long.BYTES;
    static final int LOAD_BODY_BYTES = 5 * Integer.BYTES + 3 * Long.BYTES;

    private EventCodec() {
    }

    /** The message type of an encoded message, without decoding it. */
    public static int type(byte[] message) {
        if (message.length < WORKER_ID_OFFSET) {
            throw new ProtocolException("event message of " + message.length + " bytes is shorter than its header");
        }
        return message[TYPE_OFFSET] & 0xFF;
    }

    public static byte[] encode(WorkerEventMessage message) {
        byte[] id = message.workerId().getBytes(StandardCharsets.UTF_8);
        if (id.length > 0xFFFF) {
            throw new IllegalArgumentException("worker id longer than 65535 bytes");
        }
        int size = WORKER_ID_OFFSET + id.length + switch (message) {
            case WorkerEventMessage.KvEventBatch b -> Integer.BYTES + b.events().stream().mapToInt(EventCodec::encodedSize).sum();
            case WorkerEventMessage.LoadUpdate l -> LOAD_BODY_BYTES;
        };
        ByteBuffer out = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        out.put((byte) VERSION);
        switch (message) {
            case WorkerEventMessage.KvEventBatch b -> {
                out.put((byte) TYPE_KV_EVENTS).putShort((short) id.length).put(id);
                out.putInt(b.events().size());
                for (KvEvent e : b.events()) {
                    putEvent(out, e);
                }
            }
            case WorkerEventMessage.LoadUpdate l -> {
                out.put((byte) TYPE_LOAD).putShort((short) id.length).put(id);
                LoadReport r = l.report();
                out.putInt(r.totalBlocks()).putInt(r.activeBlocks()).putInt(r.cachedBlocks())
                        .putInt(r.runningSequences()).putInt(r.waitingSequences())
                        .putLong(r.queuedPrefillTokens()).putLong(r.promptTokens()).putLong(r.cachedPromptTokens());
            }
        }
        return out.array();
    }

    /** Bytes one event takes inside a KV_EVENTS body. */
    public static int encodedSize(KvEvent event) {
        return EVENT_HEADER_BYTES + switch (event) {
            case KvEvent.Stored s -> Byte.BYTES + Long.BYTES + Integer.BYTES + 2 * Long.BYTES * s.sequenceHashes().length;
            case KvEvent.Removed r -> Integer.BYTES + Long.BYTES * r.sequenceHashes().length;
            case KvEvent.Cleared c -> 0;
        };
    }

    /** Bytes of a KV_EVENTS message with no events yet, for {@code workerId}. */
    public static int batchOverhead(String workerId) {
        return WORKER_ID_OFFSET + workerId.getBytes(StandardCharsets.UTF_8).length + Integer.BYTES;
    }

    private static void putEvent(ByteBuffer out, KvEvent event) {
        switch (event) {
            case KvEvent.Stored s -> {
                long[] seq = s.sequenceHashes();
                long[] local = s.localHashes();
                out.put((byte) KIND_STORED).putLong(s.eventId()).put((byte) (s.hasParent() ? 1 : 0))
                        .putLong(s.parentHash()).putInt(seq.length);
                for (long h : seq) {
                    out.putLong(h);
                }
                for (long h : local) {
                    out.putLong(h);
                }
            }
            case KvEvent.Removed r -> {
                long[] seq = r.sequenceHashes();
                out.put((byte) KIND_REMOVED).putLong(r.eventId()).putInt(seq.length);
                for (long h : seq) {
                    out.putLong(h);
                }
            }
            case KvEvent.Cleared c -> out.put((byte) KIND_CLEARED).putLong(c.eventId());
        }
    }

    public static WorkerEventMessage decode(byte[] message) {
        ByteBuffer in = ByteBuffer.wrap(message).order(ByteOrder.LITTLE_ENDIAN);
        try {
            int version = in.get() & 0xFF;
            if (version != VERSION) {
                throw new ProtocolException("event message version " + version + " is not supported (this build reads "
                        + VERSION + ")");
            }
            int type = in.get() & 0xFF;
            int idLength = in.getShort() & 0xFFFF;
            String workerId = utf8(in, idLength);
            WorkerEventMessage decoded = switch (type) {
                case TYPE_KV_EVENTS -> new WorkerEventMessage.KvEventBatch(workerId, events(in));
                case TYPE_LOAD -> new WorkerEventMessage.LoadUpdate(workerId, new LoadReport(in.getInt(), in.getInt(),
                        in.getInt(), in.getInt(), in.getInt(), in.getLong(), in.getLong(), in.getLong()));
                default -> throw new ProtocolException("unknown event message type " + type + " from worker " + workerId);
            };
            if (in.hasRemaining()) {
                throw new ProtocolException(in.remaining() + " trailing bytes after a type-" + type
                        + " event message from worker " + workerId);
            }
            return decoded;
        } catch (BufferUnderflowException e) {
            throw new ProtocolException("event message truncated at byte " + in.position() + " of " + message.length);
        } catch (IllegalArgumentException e) {
            throw new ProtocolException("invalid event message: " + e.getMessage(), e);
        }
    }

    private static List<KvEvent> events(ByteBuffer in) {
        long count = in.getInt() & 0xFFFF_FFFFL;
        if (count == 0 || count * EVENT_HEADER_BYTES > in.remaining()) {
            throw new ProtocolException("KV event batch claims " + count + " events in " + in.remaining() + " bytes");
        }
        List<KvEvent> events = new ArrayList<>((int) count);
        for (int i = 0; i < count; i++) {
            int kind = in.get() & 0xFF;
            long eventId = in.getLong();
            events.add(switch (kind) {
                case KIND_STORED -> {
                    int flags = in.get() & 0xFF;
                    long parent = in.getLong();
                    int blocks = blockCount(in, 2);
                    yield new KvEvent.Stored(eventId, (flags & 1) != 0, parent, longs(in, blocks), longs(in, blocks));
                }
                case KIND_REMOVED -> new KvEvent.Removed(eventId, longs(in, blockCount(in, 1)));
                case KIND_CLEARED -> new KvEvent.Cleared(eventId);
                default -> throw new ProtocolException("unknown KV event kind " + kind + " (event id " + eventId + ")");
            });
        }
        return events;
    }

    private static int blockCount(ByteBuffer in, int arrays) {
        long n = in.getInt() & 0xFFFF_FFFFL;
        if (n == 0 || n * Long.BYTES * arrays > in.remaining()) {
            throw new ProtocolException("KV event claims " + n + " blocks in " + in.remaining() + " bytes");
        }
        return (int) n;
    }

    private static long[] longs(ByteBuffer in, int n) {
        long[] out = new long[n];
        in.asLongBuffer().get(out);
        in.position(in.position() + n * Long.BYTES);
        return out;
    }

    private static String utf8(ByteBuffer in, int length) {
        if (length > in.remaining()) {
            throw new BufferUnderflowException();
        }
        ByteBuffer slice = in.slice(in.position(), length);
        in.position(in.position() + length);
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(slice).toString();
        } catch (CharacterCodingException e) {
            throw new ProtocolException("worker id is not valid UTF-8");
        }
    }
}
