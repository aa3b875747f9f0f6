package dev.tandem.runtime.kvevents;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;

/**
 * Builds vLLM KV event payloads in Java, as msgspec encodes them: the positional form (tag first,
 * trailing absent fields omitted) and the map form (a "type" field). Hashes are 64-bit integers
 * or, with {@link #bytesHashes}, the 32 bytes of the integer, big-endian.
 */
final class VllmPayloads {
    enum Encoding { ARRAY, MAP }

    private final Encoding encoding;
    private final boolean bytesHashes;
    private final List<Map<String, Object>> events = new ArrayList<>();

    VllmPayloads(Encoding encoding, boolean bytesHashes) {
        this.encoding = encoding;
        this.bytesHashes = bytesHashes;
    }

    static VllmPayloads array() {
        return new VllmPayloads(Encoding.ARRAY, false);
    }

    static VllmPayloads map() {
        return new VllmPayloads(Encoding.MAP, false);
    }

    /** BlockStored with the fields of the current vLLM (lora_id, medium and lora_name null/"GPU"). */
    VllmPayloads stored(long[] hashes, Long parent, int[] tokens, int blockSize) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("type", VllmEventDecoder.BLOCK_STORED);
        e.put("block_hashes", hashes);
        e.put("parent_block_hash", parent);
        e.put("token_ids", tokens);
        e.put("block_size", blockSize);
        e.put("lora_id", null);
        e.put("medium", "GPU");
        e.put("lora_name", null);
        events.add(e);
        return this;
    }

    /** Any event, fields in declared order (absent trailing fields omitted in the positional form). */
    VllmPayloads event(String type, Map<String, Object> fields) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("type", type);
        e.putAll(fields);
        events.add(e);
        return this;
    }

    VllmPayloads removed(long... hashes) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("type", VllmEventDecoder.BLOCK_REMOVED);
        e.put("block_hashes", hashes);
        e.put("medium", "GPU");
        events.add(e);
        return this;
    }

    VllmPayloads cleared() {
        events.add(new LinkedHashMap<>(Map.of("type", VllmEventDecoder.ALL_BLOCKS_CLEARED)));
        return this;
    }

    byte[] build() {
        return build(-1);
    }

    /** The batch; {@code rank} -1 leaves data_parallel_rank out. */
    byte[] build(int rank) {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            boolean withRank = rank >= 0;
            if (encoding == Encoding.MAP) {
                p.packMapHeader(withRank ? 3 : 2);
                p.packString("ts").packDouble(1.5);
                p.packString("events");
            } else {
                p.packArrayHeader(withRank ? 3 : 2);
                p.packDouble(1.5);
            }
            p.packArrayHeader(events.size());
            for (Map<String, Object> e : events) {
                packEvent(p, e);
            }
            if (withRank) {
                if (encoding == Encoding.MAP) {
                    p.packString("data_parallel_rank");
                }
                p.packInt(rank);
            }
            return p.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void packEvent(MessageBufferPacker p, Map<String, Object> e) throws IOException {
        if (encoding == Encoding.MAP) {
            p.packMapHeader(e.size());
            for (Map.Entry<String, Object> f : e.entrySet()) {
                p.packString(f.getKey());
                pack(p, f.getKey(), f.getValue());
            }
            return;
        }
        List<Map.Entry<String, Object>> fields = new ArrayList<>(e.entrySet());
        int last = fields.size() - 1;
        while (last > 0 && fields.get(last).getValue() == null) {
            last--;   // msgspec's omit_defaults drops trailing defaults in the positional form
        }
        p.packArrayHeader(last + 1);
        for (int i = 0; i <= last; i++) {
            pack(p, fields.get(i).getKey(), fields.get(i).getValue());
        }
    }

    private void pack(MessageBufferPacker p, String name, Object v) throws IOException {
        boolean hash = name.equals("block_hashes") || name.equals("parent_block_hash");
        switch (v) {
            case null -> p.packNil();
            case String s -> p.packString(s);
            case Integer i -> p.packInt(i);
            case Long l when hash -> packHash(p, l);
            case Long l -> p.packLong(l);
            case long[] hashes -> {
                p.packArrayHeader(hashes.length);
                for (long h : hashes) {
                    packHash(p, h);
                }
            }
            case int[] ints -> {
                p.packArrayHeader(ints.length);
                for (int t : ints) {
                    p.packInt(t);
                }
            }
            case Object[] values -> {
                p.packArrayHeader(values.length);
                for (Object o : values) {
                    pack(p, "", o);
                }
            }
            default -> throw new IllegalArgumentException("cannot pack " + v.getClass());
        }
    }

    private void packHash(MessageBufferPacker p, long h) throws IOException {
        if (bytesHashes) {
            byte[] digest = new byte[32];
            ByteBuffer.wrap(digest).putLong(24, h);
            p.packBinaryHeader(digest.length).writePayload(digest);
        } else if (h < 0) {
            p.packBigInteger(new BigInteger(Long.toUnsignedString(h)));   // as Python sends a hash >= 2^63
        } else {
            p.packLong(h);
        }
    }

    /** The key the decoder derives from {@code h} in this payload's hash form. */
    long keyOf(long h) {
        if (!bytesHashes) {
            return h;
        }
        byte[] digest = new byte[32];
        ByteBuffer.wrap(digest).putLong(24, h);
        return EngineBlockKeys.ofBytes(digest);
    }
}
