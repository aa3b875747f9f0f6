package dev.tandem.runtime.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.core.ProtocolException;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.runtime.TestRecords;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class WorkerRecordCodecTest {

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 42, 1234, 987_654_321})
    void decode_encodedRandomRecord_roundTrips(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < 200; i++) {
            WorkerRecord r = random(rnd);
            assertThat(WorkerRecordCodec.decode(WorkerRecordCodec.encode(r), "k")).as("seed %d, record %d", seed, i)
                    .isEqualTo(r);
        }
    }

    @Test
    void encode_isReadableJsonWithVersion() {
        String json = new String(WorkerRecordCodec.encode(TestRecords.worker("w1")), StandardCharsets.UTF_8);
        assertThat(json).startsWith("{\"version\":1,\"instanceId\":\"w1\",\"role\":\"aggregated\"")
                .contains("\"blockSizeTokens\":16",
                        "\"transferEndpoints\":[{\"kind\":\"tcp\",\"scopeId\":\"\",\"address\":\"127.0.0.1:7100\"}]");
    }

    @Test
    void decode_unknownFields_ignored() {
        String json = new String(WorkerRecordCodec.encode(TestRecords.worker("w1")), StandardCharsets.UTF_8)
                .replace("{\"version\":1,", "{\"version\":1,\"future\":{\"x\":1},");
        assertThat(WorkerRecordCodec.decode(json.getBytes(StandardCharsets.UTF_8), "k"))
                .isEqualTo(TestRecords.worker("w1"));
    }

    @Test
    void decode_otherVersion_protocolErrorNamingIt() {
        String json = new String(WorkerRecordCodec.encode(TestRecords.worker("w1")), StandardCharsets.UTF_8)
                .replace("\"version\":1", "\"version\":2");
        assertThatThrownBy(() -> WorkerRecordCodec.decode(json.getBytes(StandardCharsets.UTF_8), "key/w1"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("key/w1").hasMessageContaining("version 2");
    }

    @Test
    void decode_missingOrInvalidField_protocolErrorNamingField() {
        String json = new String(WorkerRecordCodec.encode(TestRecords.worker("w1")), StandardCharsets.UTF_8);
        assertThatThrownBy(() -> WorkerRecordCodec.decode(json.replace("\"hostId\"", "\"hostid\"")
                .getBytes(StandardCharsets.UTF_8), "k")).isInstanceOf(ProtocolException.class).hasMessageContaining("hostId");
        assertThatThrownBy(() -> WorkerRecordCodec.decode(json.replace("\"blockSizeTokens\":16", "\"blockSizeTokens\":0")
                .getBytes(StandardCharsets.UTF_8), "k")).isInstanceOf(ProtocolException.class).hasMessageContaining("blockSize=0");
        assertThatThrownBy(() -> WorkerRecordCodec.decode(json.replace("\"aggregated\"", "\"mixer\"")
                .getBytes(StandardCharsets.UTF_8), "k")).isInstanceOf(ProtocolException.class).hasMessageContaining("mixer");
        assertThatThrownBy(() -> WorkerRecordCodec.decode(json.replace("\"kind\":\"tcp\"", "\"kind\":\"rdma\"")
                .getBytes(StandardCharsets.UTF_8), "k")).isInstanceOf(ProtocolException.class).hasMessageContaining("rdma");
        assertThatThrownBy(() -> WorkerRecordCodec.decode("[1]".getBytes(StandardCharsets.UTF_8), "k"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("not a JSON object");
        assertThatThrownBy(() -> WorkerRecordCodec.decode("{".getBytes(StandardCharsets.UTF_8), "k"))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("not JSON");
    }

    static WorkerRecord random(SplittableRandom rnd) {
        List<TransferEndpoint> endpoints = new ArrayList<>();
        int n = rnd.nextInt(4);
        for (int i = 0; i < n; i++) {
            TransferKind kind = TransferKind.values()[rnd.nextInt(TransferKind.values().length)];
            String scope = kind == TransferKind.LOCAL || kind == TransferKind.SHM ? "s" + rnd.nextInt(100) : "";
            String address = "10.0.0." + rnd.nextInt(256) + ":" + (1 + rnd.nextInt(65535));
            endpoints.add(new TransferEndpoint(kind, scope, kind.movedByEngines() ? "http://" + address : address));
        }
        WorkerRole role = WorkerRole.values()[rnd.nextInt(WorkerRole.values().length)];
        String host = rnd.nextBoolean() ? "h" + rnd.nextInt(1000) + ".example" : "[::" + rnd.nextInt(100) + "]";
        return new WorkerRecord("w-" + Long.toHexString(rnd.nextLong()), role, "m\u00e9del/" + rnd.nextInt(10) + " \"q\"",
                host + ":" + (1 + rnd.nextInt(65535)),
                new KvLayout(1 + rnd.nextInt(512), 1 + rnd.nextInt(100), 1 + rnd.nextInt(64), 1 + rnd.nextInt(256),
                        KvDtype.values()[rnd.nextInt(KvDtype.values().length)]),
                1 + rnd.nextInt(Integer.MAX_VALUE), 1 + rnd.nextInt(1 << 20), endpoints, "host-" + rnd.nextInt());
    }
}
