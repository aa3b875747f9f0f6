package dev.tandem.runtime.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvHandle;
import dev.tandem.core.KvLayout;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.ProtocolException;
import dev.tandem.core.RemotePrefill;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.core.Usage;
import dev.tandem.runtime.rpc.proto.KvHandleMsg;
import java.util.List;
import org.junit.jupiter.api.Test;

class ProtoConvertHandleTest {
    private static final KvLayout LAYOUT = new KvLayout(16, 2, 2, 8, KvDtype.F16);
    private static final String PARAMS = "{\"do_remote_prefill\":true,\"remote_engine_id\":\"e-1\","
            + "\"remote_block_ids\":[3,4],\"remote_host\":\"10.0.0.7\",\"remote_port\":5600}";

    private static KvHandle nixl() {
        return new KvHandle(9, "prefill-up-0", List.of(new TransferEndpoint(TransferKind.NIXL, "", "http://10.0.0.7:8100")),
                new int[0], new long[0], 20, LAYOUT, 1_700_000_000_000L, PARAMS);
    }

    @Test
    void prefillResult_engineMovedHandle_keepsItsTransferParamsAcrossTheRequestPlane() {
        PrefillResult r = new PrefillResult(new GeneratedToken(42, -0.5f, null, null), nixl(), new Usage(20, 4, 0, 1));

        PrefillResult back = ProtoConvert.fromProto(ProtoConvert.toProto(r));

        assertThat(back).isEqualTo(r);
        assertThat(back.handle().transferParams()).isEqualTo(PARAMS);
        assertThat(back.handle().movedByEngines()).isTrue();
    }

    @Test
    void decodeRequest_carryingAnEngineMovedHandle_roundTrips() {
        GenerateRequest r = GenerateRequest.greedy("r", new int[20], 8)
                .withRemotePrefill(new RemotePrefill(GeneratedToken.of(42), nixl(), "10.0.0.7:7001", true));

        assertThat(ProtoConvert.fromProto(ProtoConvert.toProto(r)).remotePrefill()).isEqualTo(r.remotePrefill());
    }

    @Test
    void tandemPoolHandle_hasNoTransferParams_andParamsWithATcpEndpointAreMalformed() {
        KvHandle tcp = new KvHandle(1, "p", List.of(new TransferEndpoint(TransferKind.TCP, "", "h:1")), new int[] {5},
                new long[] {77}, 16, LAYOUT, 5);
        KvHandleMsg msg = ProtoConvert.toProto(tcp);

        assertThat(msg.getTransferParams()).isEmpty();
        assertThat(ProtoConvert.fromProto(msg)).isEqualTo(tcp);
        assertThatThrownBy(() -> ProtoConvert.fromProto(msg.toBuilder().setTransferParams(PARAMS).build()))
                .isInstanceOf(ProtocolException.class).hasMessageContaining("Tandem transports");
    }
}
