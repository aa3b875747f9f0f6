package dev.tandem.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class WorkerRecordTest {
    private static final KvLayout LAYOUT = new KvLayout(16, 2, 2, 8, KvDtype.F16);

    private static WorkerRecord record(String id, String address, List<TransferEndpoint> endpoints, String host) {
        return new WorkerRecord(id, WorkerRole.DECODE, "m", address, LAYOUT, 10, 20, endpoints, host);
    }

    @Test
    void constructor_validRecord_exposesHostPortAndEndpointsInOrder() {
        TransferEndpoint shm = new TransferEndpoint(TransferKind.SHM, "boot-1", "/dev/shm/x");
        TransferEndpoint tcp = new TransferEndpoint(TransferKind.TCP, "", "h:2");
        List<TransferEndpoint> eps = new ArrayList<>(List.of(shm, tcp));
        WorkerRecord r = record("w_1-a", "10.0.0.5:7001", eps, "boot-1");
        eps.add(new TransferEndpoint(TransferKind.UCX, "", "h:3"));
        assertThat(r.rpcHost()).isEqualTo("10.0.0.5");
        assertThat(r.rpcPort()).isEqualTo(7001);
        assertThat(r.transferEndpoints()).containsExactly(shm, tcp);
        assertThat(record("v6", "[::1]:9", null, "h").rpcHost()).isEqualTo("::1");
    }

    @Test
    void sharesHostWith_sameHostId_true() {
        WorkerRecord a = record("a", "h:1", null, "boot-1");
        assertThat(a.sharesHostWith(record("b", "h:2", null, "boot-1"))).isTrue();
        assertThat(a.sharesHostWith(record("c", "h:2", null, "boot-2"))).isFalse();
    }

    @Test
    void constructor_badValues_clearErrors() {
        assertThatThrownBy(() -> record("a.b", "h:1", null, "h")).hasMessageContaining("instance id 'a.b'");
        assertThatThrownBy(() -> record("", "h:1", null, "h")).hasMessageContaining("instance id ''");
        assertThatThrownBy(() -> record("a", "h", null, "h")).hasMessageContaining("'h' is not host:port");
        assertThatThrownBy(() -> record("a", "h:0", null, "h")).hasMessageContaining("no valid port");
        assertThatThrownBy(() -> record("a", "h:x", null, "h")).hasMessageContaining("no valid port");
        assertThatThrownBy(() -> record("a", "::1:80", null, "h")).hasMessageContaining("without brackets");
        assertThatThrownBy(() -> record("a", "h:1", java.util.Arrays.asList((TransferEndpoint) null), "h"))
                .hasMessageContaining("transfer endpoint is null");
        assertThatThrownBy(() -> record("a", "h:1", null, "")).hasMessageContaining("host id is empty");
        assertThatThrownBy(() -> new WorkerRecord("a", WorkerRole.DECODE, "m", "h:1", LAYOUT, 0, 1, null, "h"))
                .hasMessageContaining("totalBlocks=0");
        assertThatThrownBy(() -> new WorkerRecord("a", WorkerRole.DECODE, " ", "h:1", LAYOUT, 1, 1, null, "h"))
                .hasMessageContaining("model name is empty");
    }
}
