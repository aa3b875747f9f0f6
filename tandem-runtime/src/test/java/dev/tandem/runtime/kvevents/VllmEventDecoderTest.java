package dev.tandem.runtime.kvevents;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ProtocolException;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;

class VllmEventDecoderTest {
    private static final int[] TOKENS = IntStream.range(0, 32).toArray();

    @ParameterizedTest
    @EnumSource(VllmPayloads.Encoding.class)
    void decode_eachEncodingAndHashForm_givesTheSameEvents(VllmPayloads.Encoding encoding) {
        for (boolean bytes : new boolean[] {false, true}) {
            VllmPayloads p = new VllmPayloads(encoding, bytes)
                    .stored(new long[] {11, 12}, 10L, TOKENS, 16)
                    .removed(11)
                    .cleared();
            VllmEventDecoder.Batch batch = VllmEventDecoder.decode(p.build(3));

            assertThat(batch.timestampSeconds()).isEqualTo(1.5);
            assertThat(batch.dataParallelRank()).isEqualTo(3);
            assertThat(batch.events()).containsExactly(
                    new EngineKvEvent.BlockStored(new long[] {p.keyOf(11), p.keyOf(12)}, true, p.keyOf(10), TOKENS, 16,
                            true),
                    new EngineKvEvent.BlockRemoved(new long[] {p.keyOf(11)}),
                    new EngineKvEvent.AllBlocksCleared());
        }
    }

    @Test
    void decode_bytesHash_keyDiffersFromTheIntegerOfTheSameValue() {
        VllmPayloads bytes = new VllmPayloads(VllmPayloads.Encoding.ARRAY, true);
        assertThat(bytes.keyOf(7)).isNotEqualTo(7);
    }

    @Test
    void decode_olderPositionalStoredWithoutMediumAndRankless_isAccepted() {
        // vLLM's first format: [tag, block_hashes, parent, token_ids, block_size, lora_id], batch [ts, events]
        byte[] payload = VllmPayloads.array().event(VllmEventDecoder.BLOCK_STORED, fields(
                "block_hashes", new long[] {5}, "parent_block_hash", null, "token_ids", IntStream.range(0, 16).toArray(),
                "block_size", 16, "lora_id", null)).build();

        VllmEventDecoder.Batch batch = VllmEventDecoder.decode(payload);

        assertThat(batch.dataParallelRank()).isEqualTo(-1);
        assertThat(batch.events()).singleElement().isEqualTo(
                new EngineKvEvent.BlockStored(new long[] {5}, false, 0, IntStream.range(0, 16).toArray(), 16, true));
    }

    @Test
    void decode_sglangsPositionalForm_isAccepted() {
        // SGLang (python/sglang/srt/disaggregation/kv_events.py): batch [ts, events]; BlockStored
        // [tag, block_hashes, parent, token_ids, block_size, lora_id]; BlockRemoved [tag, block_hashes]
        byte[] payload = VllmPayloads.array()
                .event(VllmEventDecoder.BLOCK_STORED, fields("block_hashes", new long[] {5, 6}, "parent_block_hash", 4L,
                        "token_ids", IntStream.range(0, 32).toArray(), "block_size", 16, "lora_id", null))
                .event(VllmEventDecoder.BLOCK_REMOVED, fields("block_hashes", new long[] {5}))
                .cleared().build();

        assertThat(VllmEventDecoder.decode(payload).events()).containsExactly(
                new EngineKvEvent.BlockStored(new long[] {5, 6}, true, 4, IntStream.range(0, 32).toArray(), 16, true),
                new EngineKvEvent.BlockRemoved(new long[] {5}),
                new EngineKvEvent.AllBlocksCleared());
    }

    @Test
    void decode_hashAbove2To63_keepsItsBits() {
        long hash = 0xF000_0000_0000_0001L;   // a Python int >= 2^63, sent as msgpack uint64
        byte[] payload = VllmPayloads.array().removed(hash).build();

        assertThat(VllmEventDecoder.decode(payload).events())
                .containsExactly(new EngineKvEvent.BlockRemoved(new long[] {hash}));
    }

    @Test
    void decode_cpuMedium_keysDifferFromGpu() {
        byte[] payload = VllmPayloads.map().event(VllmEventDecoder.BLOCK_REMOVED,
                fields("block_hashes", new long[] {9}, "medium", "CPU")).build();

        EngineKvEvent.BlockRemoved r = (EngineKvEvent.BlockRemoved) VllmEventDecoder.decode(payload).events().getFirst();

        assertThat(r.blockKeys()[0]).isEqualTo(EngineBlockKeys.inMedium(9, "CPU")).isNotEqualTo(9);
    }

    @ParameterizedTest
    @EnumSource(VllmPayloads.Encoding.class)
    void decode_loraExtraKeysOrOtherGroup_markedNotIndexable(VllmPayloads.Encoding encoding) {
        int[] tokens = IntStream.range(0, 16).toArray();
        Map<String, Object> lora = fields("block_hashes", new long[] {1}, "parent_block_hash", null, "token_ids", tokens,
                "block_size", 16, "lora_id", 3);
        Map<String, Object> extra = fields("block_hashes", new long[] {1}, "parent_block_hash", null, "token_ids", tokens,
                "block_size", 16, "lora_id", null, "medium", null, "lora_name", null,
                "extra_keys", new Object[] {new Object[] {"salt"}});
        Map<String, Object> group = fields("block_hashes", new long[] {1}, "parent_block_hash", null, "token_ids", tokens,
                "block_size", 16, "lora_id", null, "medium", null, "lora_name", null, "extra_keys", null, "group_idx", 1);
        Map<String, Object> plain = fields("block_hashes", new long[] {1}, "parent_block_hash", null, "token_ids", tokens,
                "block_size", 16, "lora_id", null, "medium", null, "lora_name", null,
                "extra_keys", new Object[] {null}, "group_idx", 0);
        byte[] payload = new VllmPayloads(encoding, false).event(VllmEventDecoder.BLOCK_STORED, lora)
                .event(VllmEventDecoder.BLOCK_STORED, extra).event(VllmEventDecoder.BLOCK_STORED, group)
                .event(VllmEventDecoder.BLOCK_STORED, plain).build();

        assertThat(VllmEventDecoder.decode(payload).events())
                .extracting(e -> ((EngineKvEvent.BlockStored) e).indexable())
                .containsExactly(false, false, false, true);
    }

    @Test
    void decode_unknownEventType_isUnknownAndTheRestDecodes() {
        byte[] payload = VllmPayloads.map().event("BlockPromoted", fields("block_hashes", new long[] {1}))
                .removed(2).build();

        assertThat(VllmEventDecoder.decode(payload).events()).containsExactly(
                new EngineKvEvent.Unknown("BlockPromoted"), new EngineKvEvent.BlockRemoved(new long[] {2}));
    }

    @Test
    void decode_notMessagePackOrTrailingBytes_isProtocolException() {
        assertThatThrownBy(() -> VllmEventDecoder.decode(new byte[] {(byte) 0xc1}))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("not MessagePack");
        assertThatThrownBy(() -> VllmEventDecoder.decode(new byte[0]))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("not MessagePack");
        byte[] ok = VllmPayloads.array().cleared().build();
        byte[] trailing = java.util.Arrays.copyOf(ok, ok.length + 1);
        assertThatThrownBy(() -> VllmEventDecoder.decode(trailing))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("1 bytes after its batch");
    }

    @Test
    void decode_tokenCountNotBlocksTimesBlockSize_isProtocolException() {
        byte[] payload = VllmPayloads.array().stored(new long[] {1, 2}, null, IntStream.range(0, 20).toArray(), 16)
                .build();

        assertThatThrownBy(() -> VllmEventDecoder.decode(payload)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("2 blocks of 16 tokens carries 20 token ids");
    }

    @Test
    void decode_wrongShapes_areProtocolExceptions() throws IOException {
        assertThatThrownBy(() -> VllmEventDecoder.decode(pack(p -> p.packString("batch"))))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("batch must be an array or a map");
        assertThatThrownBy(() -> VllmEventDecoder.decode(pack(p -> p.packArrayHeader(2).packString("x").packArrayHeader(0))))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("ts must be a number");
        assertThatThrownBy(() -> VllmEventDecoder.decode(pack(p -> p.packArrayHeader(1).packDouble(1))))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("lacks its field events");
        assertThatThrownBy(() -> VllmEventDecoder.decode(pack(p -> p.packArrayHeader(2).packDouble(1)
                .packArrayHeader(1).packArrayHeader(0))))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("non-empty array or a map");
        assertThatThrownBy(() -> VllmEventDecoder.decode(VllmPayloads.array().event(VllmEventDecoder.BLOCK_REMOVED,
                fields("block_hashes", new long[] {1}, "medium", 7)).build()))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("medium must be a string");
        assertThatThrownBy(() -> VllmEventDecoder.decode(VllmPayloads.array().event(VllmEventDecoder.BLOCK_REMOVED,
                fields("block_hashes", new Object[] {"h"})).build()))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("block hash must be an integer or bytes");
        assertThatThrownBy(() -> VllmEventDecoder.decode(VllmPayloads.array().event(VllmEventDecoder.BLOCK_REMOVED,
                fields("block_hashes", new long[] {1}, "medium", null, "group_idx", null, "extra", 1)).build()))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("at most 3 are known");
        assertThatThrownBy(() -> VllmEventDecoder.decode(VllmPayloads.array().event(VllmEventDecoder.BLOCK_STORED,
                fields("block_hashes", new long[] {1}, "parent_block_hash", null, "token_ids", new int[16])).build()))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("lacks its field block_size");
        assertThatThrownBy(() -> VllmEventDecoder.decode(VllmPayloads.map().event(VllmEventDecoder.BLOCK_REMOVED,
                fields("block_hashes", new long[0])).build()))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("no block hashes");
    }

    private interface Packing {
        void pack(MessageBufferPacker p) throws IOException;
    }

    private static byte[] pack(Packing packing) throws IOException {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            packing.pack(p);
            return p.toByteArray();
        }
    }

    /** Fields in the order given (names and values alternating). */
    static Map<String, Object> fields(Object... nameValues) {
        Map<String, Object> out = new LinkedHashMap<>();
        for (int i = 0; i < nameValues.length; i += 2) {
            out.put((String) nameValues[i], nameValues[i + 1]);
        }
        return out;
    }
}
