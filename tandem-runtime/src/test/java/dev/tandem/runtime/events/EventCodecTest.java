package dev.tandem.runtime.events;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.KvEvent;
import dev.tandem.core.LoadReport;
import dev.tandem.core.ProtocolException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class EventCodecTest {

    static List<KvEvent> randomEvents(SplittableRandom rnd, long firstId, int count) {
        return randomEvents(rnd, firstId, count, 300);
    }

    static List<KvEvent> randomEvents(SplittableRandom rnd, long firstId, int count, int maxBlocks) {
        List<KvEvent> events = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            long id = firstId + i;
            int blocks = 1 + rnd.nextInt(rnd.nextInt(10) == 0 ? maxBlocks : Math.min(8, maxBlocks));
            events.add(switch (rnd.nextInt(3)) {
                case 0 -> new KvEvent.Stored(id, rnd.nextBoolean(), rnd.nextLong(), longs(rnd, blocks), longs(rnd, blocks));
                case 1 -> new KvEvent.Removed(id, longs(rnd, blocks));
                default -> new KvEvent.Cleared(id);
            });
        }
        return events;
    }

    private static long[] longs(SplittableRandom rnd, int n) {
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            out[i] = rnd.nextLong();
        }
        return out;
    }

    static LoadReport randomLoad(SplittableRandom rnd) {
        return new LoadReport(rnd.nextInt(), rnd.nextInt(), rnd.nextInt(), rnd.nextInt(), rnd.nextInt(),
                rnd.nextLong(), rnd.nextLong(), rnd.nextLong());
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 7, 42, 2024, 99_991, 123_456_789})
    void decode_encodedRandomMessages_roundTrip(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < 300; i++) {
            String worker = "w-" + rnd.nextInt(1000);
            WorkerEventMessage m = rnd.nextInt(4) == 0
                    ? new WorkerEventMessage.LoadUpdate(worker, randomLoad(rnd))
                    : new WorkerEventMessage.KvEventBatch(worker, randomEvents(rnd, rnd.nextLong(1L << 40), 1 + rnd.nextInt(20)));
            byte[] bytes = EventCodec.encode(m);
            assertThat(EventCodec.decode(bytes)).as("seed %d message %d", seed, i).isEqualTo(m);
            if (m instanceof WorkerEventMessage.KvEventBatch b) {
                assertThat(bytes.length).isEqualTo(EventCodec.batchOverhead(worker)
                        + b.events().stream().mapToInt(EventCodec::encodedSize).sum());
            }
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {3, 5, 8})
    void decode_everyTruncation_protocolException(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] bytes = EventCodec.encode(new WorkerEventMessage.KvEventBatch("w", randomEvents(rnd, 0, 6, 8)));
        for (int len = 0; len < bytes.length; len++) {
            byte[] cut = java.util.Arrays.copyOf(bytes, len);
            assertThatThrownBy(() -> EventCodec.decode(cut)).as("length %d", len).isInstanceOf(ProtocolException.class);
        }
    }

    @Test
    void encode_knownMessage_exactLittleEndianBytes() {
        byte[] stored = EventCodec.encode(new WorkerEventMessage.KvEventBatch("w",
                List.of(new KvEvent.Stored(2, true, 0x0102030405060708L, new long[] {0x11}, new long[] {0x22}),
                        new KvEvent.Cleared(3))));
        assertThat(HexFormat.of().formatHex(stored)).isEqualTo(
                "01" + "01" + "0100" + "77"                       // version, type KV_EVENTS, id length 1, "w"
                + "02000000"                                      // 2 events
                + "01" + "0200000000000000" + "01" + "0807060504030201" + "01000000"
                + "1100000000000000" + "2200000000000000"         // stored: id 2, hasParent, parent, 1 block, hashes
                + "03" + "0300000000000000");                     // cleared: id 3
        byte[] load = EventCodec.encode(new WorkerEventMessage.LoadUpdate("w", new LoadReport(1, 2, 3, 4, 5, 6, 7, 8)));
        assertThat(HexFormat.of().formatHex(load)).isEqualTo("01020100" + "77" + "01000000" + "02000000" + "03000000"
                + "04000000" + "05000000" + "0600000000000000" + "0700000000000000" + "0800000000000000");
        assertThat(EventCodec.type(load)).isEqualTo(EventCodec.TYPE_LOAD);
    }

    @Test
    void decode_unknownVersionTypeOrKind_protocolException() {
        byte[] good = EventCodec.encode(new WorkerEventMessage.KvEventBatch("w", List.of(new KvEvent.Cleared(0))));
        byte[] v2 = good.clone();
        v2[0] = 2;
        assertThatThrownBy(() -> EventCodec.decode(v2)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("version 2");
        byte[] type9 = good.clone();
        type9[1] = 9;
        assertThatThrownBy(() -> EventCodec.decode(type9)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("unknown event message type 9");
        byte[] kind7 = good.clone();
        kind7[EventCodec.batchOverhead("w")] = 7;
        assertThatThrownBy(() -> EventCodec.decode(kind7)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("unknown KV event kind 7");
    }

    @Test
    void decode_malformedCountsAndTrailingBytes_protocolException() {
        byte[] good = EventCodec.encode(new WorkerEventMessage.KvEventBatch("w",
                List.of(new KvEvent.Removed(0, new long[] {1, 2}))));
        byte[] hugeCount = good.clone();
        hugeCount[EventCodec.batchOverhead("w") - 1] = (byte) 0x7f;   // event count's high byte
        assertThatThrownBy(() -> EventCodec.decode(hugeCount)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("claims");
        byte[] zeroBlocks = good.clone();
        zeroBlocks[EventCodec.batchOverhead("w") + 9] = 0;             // block count 2 -> 0
        assertThatThrownBy(() -> EventCodec.decode(zeroBlocks)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("0 blocks");
        byte[] trailing = java.util.Arrays.copyOf(good, good.length + 1);
        assertThatThrownBy(() -> EventCodec.decode(trailing)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("1 trailing bytes");
        byte[] badUtf8 = good.clone();
        badUtf8[EventCodec.WORKER_ID_OFFSET] = (byte) 0xff;
        assertThatThrownBy(() -> EventCodec.decode(badUtf8)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("UTF-8");
        byte[] storedMismatch = EventCodec.encode(new WorkerEventMessage.KvEventBatch("w",
                List.of(new KvEvent.Stored(0, false, 0, new long[] {1}, new long[] {2}))));
        assertThatThrownBy(() -> EventCodec.decode(new byte[] {1})).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("truncated");
        assertThat(EventCodec.decode(storedMismatch)).isNotNull();
    }
}
