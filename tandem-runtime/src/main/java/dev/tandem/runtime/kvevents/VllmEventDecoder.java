package dev.tandem.runtime.kvevents;

import dev.tandem.core.ProtocolException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessagePackException;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.value.ArrayValue;
import org.msgpack.value.Value;
import org.msgpack.value.ValueFactory;

/**
 * Decodes the MessagePack payload of one vLLM (or SGLang) KV event batch.
 *
 * <pre>
 * Payload (vllm/distributed/kv_events.py: EventBatch, KVCacheEvent; msgspec structs with
 * omit_defaults, so absent trailing fields mean their default, null):
 *
 *   batch, positional  [ ts f64, events [event...], data_parallel_rank int? ]
 *   batch, map         { "ts": f64, "events": [event...], "data_parallel_rank": int? }
 *
 *   event, positional  [ tag str, field0, field1, ... ]   the tag first, fields in declared order
 *   event, map         { "type": tag str, "field": value, ... }
 *
 *   BlockStored        block_hashes [hash...], parent_block_hash hash?, token_ids [int...],
 *                      block_size int, lora_id int?, medium str?, lora_name str?,
 *                      extra_keys [[any...]?...]?, group_idx int?, kv_cache_spec_kind str?,
 *                      kv_cache_spec_sliding_window int?
 *   BlockRemoved       block_hashes [hash...], medium str?, group_idx int?
 *   AllBlocksCleared   (no fields)
 *
 *   hash               a 64-bit integer (signed or unsigned), or bytes (a digest)
 * </pre>
 *
 * Older vLLM versions send the positional form with fewer trailing fields (no medium, no
 * lora_name); newer ones send maps. Both are accepted, field by field.
 *
 * <p>Decode policy: anything that does not fit the shapes above (not MessagePack, trailing
 * bytes, a wrong type, a missing required field, a token count that is not blocks times block
 * size) is a {@link ProtocolException} for the whole batch, because a batch with one bad event
 * cannot be applied in part without losing the order of the rest. An event whose tag is not one
 * of the three is decoded as {@link EngineKvEvent.Unknown}, so a newer engine's extra event types
 * do not cost the batch.
 *
 * <p>Stateless; safe for concurrent use.
 */
final class VllmEventDecoder {
    static final String BLOCK_STORED = "BlockStored";
    static final String BLOCK_REMOVED = "BlockRemoved";
    static final String ALL_BLOCKS_CLEARED = "AllBlocksCleared";

    /** BlockStored's fields in declared order (the positional form's order after the tag). */
    static final List<String> STORED_FIELDS = List.of("block_hashes", "parent_block_hash", "token_ids", "block_size",
            "lora_id", "medium", "lora_name", "extra_keys", "group_idx", "kv_cache_spec_kind",
            "kv_cache_spec_sliding_window");
    /** BlockRemoved's fields in declared order. */
    static final List<String> REMOVED_FIELDS = List.of("block_hashes", "medium", "group_idx");
    /** The batch's fields in declared order. */
    static final List<String> BATCH_FIELDS = List.of("ts", "events", "data_parallel_rank");

    /**
     * A decoded batch.
     *
     * @param dataParallelRank the publisher's data-parallel rank, -1 when absent
     */
    record Batch(double timestampSeconds, List<EngineKvEvent> events, int dataParallelRank) {
        Batch {
            events = List.copyOf(events);
        }
    }

    private VllmEventDecoder() {
    }

    static Batch decode(byte[] payload) {
        Value root;
        try (MessageUnpacker unpacker = MessagePack.newDefaultUnpacker(payload)) {
            root = unpacker.unpackValue();
            if (unpacker.hasNext()) {
                throw new ProtocolException("KV event payload has " + (payload.length - unpacker.getTotalReadBytes())
                        + " bytes after its batch");
            }
        } catch (MessagePackException | IOException e) {
            throw new ProtocolException("KV event payload of " + payload.length + " bytes is not MessagePack: "
                    + e.getMessage(), e);
        }
        Map<String, Value> batch = fields(root, BATCH_FIELDS, "batch", false);
        Value ts = required(batch, "ts", "batch");
        if (!ts.isNumberValue()) {
            throw new ProtocolException("batch ts must be a number, got " + ts.getValueType());
        }
        Value events = required(batch, "events", "batch");
        if (!events.isArrayValue()) {
            throw new ProtocolException("batch events must be an array, got " + events.getValueType());
        }
        List<EngineKvEvent> out = new ArrayList<>(events.asArrayValue().size());
        for (Value event : events.asArrayValue()) {
            out.add(event(event));
        }
        Value rank = batch.get("data_parallel_rank");
        return new Batch(ts.asNumberValue().toDouble(), out, isAbsent(rank) ? -1 : intOf(rank, "data_parallel_rank"));
    }

    private static EngineKvEvent event(Value event) {
        String tag = tagOf(event);
        return switch (tag) {
            case BLOCK_STORED -> stored(fields(event, STORED_FIELDS, tag, true));
            case BLOCK_REMOVED -> removed(fields(event, REMOVED_FIELDS, tag, true));
            case ALL_BLOCKS_CLEARED -> new EngineKvEvent.AllBlocksCleared();
            default -> new EngineKvEvent.Unknown(tag);
        };
    }

    private static EngineKvEvent.BlockStored stored(Map<String, Value> f) {
        String medium = stringOrNull(f.get("medium"), "medium");
        long[] keys = keys(required(f, "block_hashes", BLOCK_STORED), medium);
        Value parent = f.get("parent_block_hash");
        boolean hasParent = !isAbsent(parent);
        long parentKey = hasParent ? EngineBlockKeys.inMedium(key(parent), medium) : 0;
        Value tokens = required(f, "token_ids", BLOCK_STORED);
        if (!tokens.isArrayValue()) {
            throw new ProtocolException("BlockStored token_ids must be an array, got " + tokens.getValueType());
        }
        ArrayValue tokenArray = tokens.asArrayValue();
        int[] tokenIds = new int[tokenArray.size()];
        for (int i = 0; i < tokenIds.length; i++) {
            tokenIds[i] = intOf(tokenArray.get(i), "token_ids");
        }
        int blockSize = intOf(required(f, "block_size", BLOCK_STORED), "block_size");
        boolean indexable = isAbsent(f.get("lora_id")) && isAbsent(f.get("lora_name"))
                && noExtraKeys(f.get("extra_keys")) && isDefaultGroup(f.get("group_idx"));
        try {
            return new EngineKvEvent.BlockStored(keys, hasParent, parentKey, tokenIds, blockSize, indexable);
        } catch (IllegalArgumentException e) {
            throw new ProtocolException(e.getMessage(), e);
        }
    }

    private static EngineKvEvent.BlockRemoved removed(Map<String, Value> f) {
        long[] keys = keys(required(f, "block_hashes", BLOCK_REMOVED), stringOrNull(f.get("medium"), "medium"));
        if (keys.length == 0) {
            throw new ProtocolException("BlockRemoved with no block hashes");
        }
        return new EngineKvEvent.BlockRemoved(keys);
    }

    /** An event's or batch's fields by name, from either the positional or the map form. */
    private static Map<String, Value> fields(Value v, List<String> names, String what, boolean tagged) {
        Map<String, Value> out = new HashMap<>();
        if (v.isArrayValue()) {
            ArrayValue a = v.asArrayValue();
            int first = tagged ? 1 : 0;
            if (a.size() - first > names.size()) {
                throw new ProtocolException(what + " has " + (a.size() - first) + " positional fields, at most "
                        + names.size() + " are known");
            }
            for (int i = first; i < a.size(); i++) {
                out.put(names.get(i - first), a.get(i));
            }
        } else if (v.isMapValue()) {
            for (Map.Entry<Value, Value> e : v.asMapValue().entrySet()) {
                if (!e.getKey().isStringValue()) {
                    throw new ProtocolException(what + " has a non-string key " + e.getKey().getValueType());
                }
                out.put(e.getKey().asStringValue().asString(), e.getValue());
            }
        } else {
            throw new ProtocolException(what + " must be an array or a map, got " + v.getValueType());
        }
        return out;
    }

    private static String tagOf(Value event) {
        Value tag;
        if (event.isArrayValue() && event.asArrayValue().size() > 0) {
            tag = event.asArrayValue().get(0);
        } else if (event.isMapValue()) {
            tag = event.asMapValue().map().get(ValueFactory.newString("type"));
        } else {
            throw new ProtocolException("event must be a non-empty array or a map, got " + event.getValueType());
        }
        if (tag == null || !tag.isStringValue()) {
            throw new ProtocolException("event has no string type tag");
        }
        return tag.asStringValue().asString();
    }

    private static Value required(Map<String, Value> f, String name, String what) {
        Value v = f.get(name);
        if (isAbsent(v)) {
            throw new ProtocolException(what + " lacks its field " + name);
        }
        return v;
    }

    private static long[] keys(Value hashes, String medium) {
        if (!hashes.isArrayValue()) {
            throw new ProtocolException("block_hashes must be an array, got " + hashes.getValueType());
        }
        ArrayValue a = hashes.asArrayValue();
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = EngineBlockKeys.inMedium(key(a.get(i)), medium);
        }
        return out;
    }

    private static long key(Value hash) {
        if (hash.isIntegerValue()) {
            return hash.asIntegerValue().toLong();   // an unsigned 64-bit value keeps its bits
        }
        if (hash.isBinaryValue()) {
            return EngineBlockKeys.ofBytes(hash.asBinaryValue().asByteArray());
        }
        throw new ProtocolException("a block hash must be an integer or bytes, got " + hash.getValueType());
    }

    private static int intOf(Value v, String name) {
        if (!v.isIntegerValue() || !v.asIntegerValue().isInIntRange()) {
            throw new ProtocolException(name + " must be a 32-bit integer, got " + v);
        }
        return v.asIntegerValue().toInt();
    }

    private static String stringOrNull(Value v, String name) {
        if (isAbsent(v)) {
            return null;
        }
        if (!v.isStringValue()) {
            throw new ProtocolException(name + " must be a string, got " + v.getValueType());
        }
        return v.asStringValue().asString();
    }

    private static boolean noExtraKeys(Value extraKeys) {
        if (isAbsent(extraKeys)) {
            return true;
        }
        if (!extraKeys.isArrayValue()) {
            throw new ProtocolException("extra_keys must be an array, got " + extraKeys.getValueType());
        }
        for (Value perBlock : extraKeys.asArrayValue()) {
            if (!perBlock.isNilValue()) {
                return false;
            }
        }
        return true;
    }

    private static boolean isDefaultGroup(Value groupIdx) {
        return isAbsent(groupIdx) || intOf(groupIdx, "group_idx") == 0;
    }

    private static boolean isAbsent(Value v) {
        return v == null || v.isNilValue();
    }
}
