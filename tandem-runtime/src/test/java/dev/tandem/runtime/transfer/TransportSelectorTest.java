package dev.tandem.runtime.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;

class TransportSelectorTest {
    private static final TransferEndpoint LOCAL = new TransferEndpoint(TransferKind.LOCAL, "jvm-a", "pool");
    private static final TransferEndpoint SHM = new TransferEndpoint(TransferKind.SHM, "host-a", "/dev/shm/pool");
    private static final TransferEndpoint UCX = new TransferEndpoint(TransferKind.UCX, "", "10.0.0.1:9001");
    private static final TransferEndpoint TCP = new TransferEndpoint(TransferKind.TCP, "", "10.0.0.1:9000");
    private static final List<TransferEndpoint> ALL = List.of(TCP, UCX, SHM, LOCAL);

    private static TransportSelector.Self self(String jvm, String host, TransferKind... kinds) {
        return new TransportSelector.Self(jvm, host, EnumSet.of(kinds[0], kinds));
    }

    @Test
    void choose_sameJvm_local() {
        assertThat(TransportSelector.choose(self("jvm-a", "host-a", TransferKind.values()), ALL, f -> true))
                .contains(LOCAL);
    }

    @Test
    void choose_sameHostOtherJvm_shm() {
        assertThat(TransportSelector.choose(self("jvm-b", "host-a", TransferKind.values()), ALL, f -> true))
                .contains(SHM);
    }

    @Test
    void choose_sameHostButFileNotReadable_fallsBack() {
        assertThat(TransportSelector.choose(self("jvm-b", "host-a", TransferKind.values()), ALL, f -> false))
                .contains(UCX);
    }

    @Test
    void choose_otherHostWithUcx_ucx() {
        assertThat(TransportSelector.choose(self("jvm-b", "host-b", TransferKind.values()), ALL, f -> true))
                .contains(UCX);
    }

    @Test
    void choose_otherHostWithoutUcx_tcp() {
        assertThat(TransportSelector.choose(self("jvm-b", "host-b", TransferKind.LOCAL, TransferKind.SHM,
                TransferKind.TCP), ALL, f -> true)).contains(TCP);
    }

    @Test
    void choose_peerOffersOnlyLocalOfAnotherJvm_empty() {
        assertThat(TransportSelector.choose(self("jvm-b", "host-a", TransferKind.values()), List.of(LOCAL), f -> true))
                .isEmpty();
    }

    @Test
    void choose_thisSideLacksTcp_empty() {
        assertThat(TransportSelector.choose(self("jvm-b", "host-b", TransferKind.LOCAL), List.of(TCP), f -> true))
                .isEmpty();
    }
}
