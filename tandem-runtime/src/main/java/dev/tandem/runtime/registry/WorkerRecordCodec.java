package dev.tandem.runtime.registry;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.core.ProtocolException;
import dev.tandem.core.TandemException;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.ArrayList;
import java.util.List;

/**
 * JSON form of a {@link WorkerRecord}, the value stored under a registry key (readable with
 * {@code etcdctl get}):
 * <pre>
 * {"version":1, "instanceId":"w-1", "role":"decode", "model":"tinyllama", "rpcAddress":"10.0.0.5:7001",
 *  "layout":{"blockSizeTokens":16, "layers":22, "kvHeads":4, "headDim":64, "dtype":"f16"},
 *  "capacity":{"totalBlocks":4096, "maxBatchTokens":2048},
 *  "transferEndpoints":[{"kind":"shm", "scopeId":"9f1c...", "address":"/dev/shm/tandem-w-1"},
 *                       {"kind":"tcp", "scopeId":"", "address":"10.0.0.5:7002"}],
 *  "hostId":"9f1c..."}
 * </pre>
 * Unknown fields are ignored (a newer writer may add some); a {@code version} other than 1, a
 * missing field or an invalid value is a {@link ProtocolException} naming it.
 *
 * <p>Stateless; safe for concurrent use.
 */
public final class WorkerRecordCodec {
    public static final int VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper();

    private WorkerRecordCodec() {
    }

    public static byte[] encode(WorkerRecord r) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", VERSION);
        root.put("instanceId", r.instanceId());
        root.put("role", r.role().name().toLowerCase(Locale.ROOT));
        root.put("model", r.modelName());
        root.put("rpcAddress", r.rpcAddress());
        ObjectNode layout = root.putObject("layout");
        layout.put("blockSizeTokens", r.layout().blockSizeTokens());
        layout.put("layers", r.layout().layerCount());
        layout.put("kvHeads", r.layout().kvHeadCount());
        layout.put("headDim", r.layout().headDim());
        layout.put("dtype", r.layout().dtype().name().toLowerCase(Locale.ROOT));
        ObjectNode capacity = root.putObject("capacity");
        capacity.put("totalBlocks", r.totalBlocks());
        capacity.put("maxBatchTokens", r.maxBatchTokens());
        ArrayNode endpoints = root.putArray("transferEndpoints");
        for (TransferEndpoint e : r.transferEndpoints()) {
            endpoints.addObject().put("kind", e.kind().label()).put("scopeId", e.scopeId()).put("address", e.address());
        }
        root.put("hostId", r.hostId());
        try {
            return JSON.writeValueAsBytes(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode " + r, e);
        }
    }

    /** Decodes a registry value; {@code source} (the key) names it in errors. */
    public static WorkerRecord decode(byte[] bytes, String source) {
        JsonNode root;
        try {
            root = JSON.readTree(bytes);
        } catch (java.io.IOException e) {
            throw new ProtocolException("worker record at " + source + " is not JSON: " + (e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage())
                    + " (" + preview(bytes) + ")");
        }
        if (root == null || !root.isObject()) {
            throw new ProtocolException("worker record at " + source + " is not a JSON object (" + preview(bytes) + ")");
        }
        int version = integer(root, "version", source);
        if (version != VERSION) {
            throw new ProtocolException("worker record at " + source + " has version " + version
                    + "; this build reads version " + VERSION);
        }
        try {
            JsonNode layout = object(root, "layout", source);
            JsonNode capacity = object(root, "capacity", source);
            List<TransferEndpoint> endpoints = new ArrayList<>();
            JsonNode eps = root.get("transferEndpoints");
            if (eps != null && eps.isArray()) {
                for (JsonNode e : eps) {
                    String scope = e.hasNonNull("scopeId") ? e.get("scopeId").asText() : "";
                    endpoints.add(new TransferEndpoint(TransferKind.parse(text(e, "kind", source)), scope,
                            text(e, "address", source)));
                }
            }
            return new WorkerRecord(text(root, "instanceId", source), WorkerRole.parse(text(root, "role", source)),
                    text(root, "model", source), text(root, "rpcAddress", source),
                    new KvLayout(integer(layout, "blockSizeTokens", source), integer(layout, "layers", source),
                            integer(layout, "kvHeads", source), integer(layout, "headDim", source),
                            KvDtype.parse(text(layout, "dtype", source))),
                    integer(capacity, "totalBlocks", source), integer(capacity, "maxBatchTokens", source),
                    endpoints, text(root, "hostId", source));
        } catch (IllegalArgumentException | TandemException e) {
            if (e instanceof ProtocolException p) {
                throw p;
            }
            throw new ProtocolException("worker record at " + source + " is invalid: " + e.getMessage(), e);
        }
    }

    private static JsonNode object(JsonNode node, String field, String source) {
        JsonNode v = node.get(field);
        if (v == null || !v.isObject()) {
            throw new ProtocolException("worker record at " + source + ": field '" + field + "' is missing");
        }
        return v;
    }

    private static String text(JsonNode node, String field, String source) {
        JsonNode v = node.get(field);
        if (v == null || !v.isTextual()) {
            throw new ProtocolException("worker record at " + source + ": text field '" + field + "' is missing");
        }
        return v.asText();
    }

    private static int integer(JsonNode node, String field, String source) {
        JsonNode v = node.get(field);
        if (v == null || !v.canConvertToInt() || !v.isIntegralNumber()) {
            throw new ProtocolException("worker record at " + source + ": integer field '" + field
                    + "' is missing or out of range");
        }
        return v.intValue();
    }

    private static String preview(byte[] bytes) {
        String s = new String(bytes, 0, Math.min(bytes.length, 80), StandardCharsets.UTF_8);
        return bytes.length > 80 ? s + "..." : s;
    }
}
