package dev.tandem.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ConfigExceptionTest {

    @Test
    void parseEnum_anyCaseAndBlanks_findsConstant() {
        assertThat(ConfigException.parseEnum(TransferKind.class, " Shm ", "transfer kind")).isEqualTo(TransferKind.SHM);
        assertThat(KvDtype.parse("F16")).isEqualTo(KvDtype.F16);
        assertThat(WorkerRole.parse("decode")).isEqualTo(WorkerRole.DECODE);
    }

    @Test
    void parseEnum_unknownText_namesTextAndEveryValue() {
        assertThatThrownBy(() -> TransferKind.parse("rdma")).isInstanceOf(ConfigException.class)
                .hasMessage("unknown transfer kind 'rdma' (expected local, shm, ucx, tcp or nixl)");
        assertThatThrownBy(() -> KvDtype.parse("bf16"))
                .hasMessage("unknown KV dtype 'bf16' (expected f32 or f16)");
        assertThatThrownBy(() -> WorkerRole.parse("chef"))
                .hasMessage("unknown role 'chef' (expected aggregated, prefill or decode)");
    }
}
