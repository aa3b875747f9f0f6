package dev.tandem.worker;

import dev.tandem.core.ConfigException;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.worker.upstream.UpstreamConfig;
import dev.tandem.worker.upstream.UpstreamKind;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WorkerSpecTest {
    private final WorkerSpec base = WorkerSpec.defaults(WorkerProcessTest.stories());

    @Test
    void defaultInstanceId_isAValidRegistryKeySegmentAndDiffersPerCall() {
        String a = WorkerSpec.defaultInstanceId(WorkerRole.PREFILL);
        String b = WorkerSpec.defaultInstanceId(WorkerRole.PREFILL);

        assertThat(a).startsWith("prefill-" + ProcessHandle.current().pid() + "-").matches(WorkerRecord.ID_PATTERN);
        assertThat(a).isNotEqualTo(b);
    }

    @Test
    void modelName_noServedName_isTheFileNameWithoutExtension() {
        assertThat(base.modelName()).isEqualTo("stories260K");
        assertThat(base.withServedName("tiny").modelName()).isEqualTo("tiny");
    }

    @Test
    void transferConfig_bindsLikeTheRequestPlaneAndAdvertisesTheSameHost() {
        WorkerSpec s = base.withRpc("10.1.2.3", 7001, "worker-7.example");

        assertThat(s.transferConfig().bindHost()).isEqualTo("10.1.2.3");
        assertThat(s.transferConfig().advertiseHost()).isEqualTo("worker-7.example");
        assertThat(s.transferConfig().kinds()).isEqualTo(s.transferKinds());
    }

    @Test
    void constructor_badValues_failWithOneClearMessageEach() {
        assertThatThrownBy(() -> base.withInstanceId("has space")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("worker id 'has space'");
        assertThatThrownBy(() -> base.withRpc("0.0.0.0", 70_000, "127.0.0.1")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("--rpc-port must be in [0, 65535], got 70000");
        assertThatThrownBy(() -> base.withRpc("0.0.0.0", 0, "http://host/")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("--advertise");
        assertThatThrownBy(() -> base.withMock(true, 0)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("mock speed-up");
        assertThatThrownBy(() -> base.withTransferKinds(Set.of())).isInstanceOf(ConfigException.class)
                .hasMessageContaining("at least one KV transfer kind");
        assertThatThrownBy(() -> WorkerSpec.defaults(Path.of("/nonexistent/model.gguf")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("/nonexistent/model.gguf");
        assertThatThrownBy(() -> base.withDrainTimeoutMs(-1)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("drain timeout");
    }

    @Test
    void upstreamRoles_onlyForServersSpeakingVllmsDisaggregation() {
        UpstreamConfig llama = UpstreamConfig.of("http://127.0.0.1:1", UpstreamKind.LLAMA_SERVER);
        UpstreamConfig sglang = UpstreamConfig.of("http://127.0.0.1:1", UpstreamKind.SGLANG);

        assertThat(base.withUpstream(UpstreamConfig.of("http://127.0.0.1:1", UpstreamKind.VLLM))
                .withRole(WorkerRole.PREFILL).role()).isEqualTo(WorkerRole.PREFILL);
        assertThat(base.withUpstream(UpstreamConfig.of("http://127.0.0.1:1", null)).withRole(WorkerRole.DECODE)
                .role()).as("checked once the kind is detected").isEqualTo(WorkerRole.DECODE);
        assertThat(base.withUpstream(llama).role()).isEqualTo(WorkerRole.AGGREGATED);
        assertThatThrownBy(() -> base.withUpstream(llama).withRole(WorkerRole.PREFILL))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("--role prefill with --upstream-kind llama-server: llama-server has no");
        assertThatThrownBy(() -> base.withUpstream(sglang).withRole(WorkerRole.DECODE))
                .isInstanceOf(ConfigException.class).hasMessageContaining("SGLang's prefill/decode disaggregation");
    }

    @Test
    void hostPort_ipv6Host_isBracketed() {
        assertThat(WorkerProcess.hostPort("::1", 7000)).isEqualTo("[::1]:7000");
        assertThat(WorkerProcess.hostPort("[::1]", 7000)).isEqualTo("[::1]:7000");
        assertThat(WorkerProcess.hostPort("10.0.0.2", 7000)).isEqualTo("10.0.0.2:7000");
    }
}
