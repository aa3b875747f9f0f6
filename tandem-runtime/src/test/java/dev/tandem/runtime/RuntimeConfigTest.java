package dev.tandem.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ConfigException;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RuntimeConfigTest {
    @Test
    void fromProperties_empty_defaults() {
        assertThat(RuntimeConfig.fromProperties(Map.of())).isEqualTo(RuntimeConfig.defaults());
        assertThat(RuntimeConfig.defaults().leaseTtlMs()).isEqualTo(10_000);
    }

    @Test
    void fromProperties_values_parsed() {
        RuntimeConfig c = RuntimeConfig.fromProperties(Map.of("tandem.runtime.namespace", "prod",
                "tandem.runtime.lease-ttl-ms", "3_000", "tandem.runtime.rpc-call-timeout-ms", "250",
                "other.key", "ignored"));
        assertThat(c.namespace()).isEqualTo("prod");
        assertThat(c.leaseTtlMs()).isEqualTo(3_000);
        assertThat(c.rpcCallTimeoutMs()).isEqualTo(250);
    }

    @Test
    void fromProperties_badValues_oneClearError() {
        assertThatThrownBy(() -> RuntimeConfig.fromProperties(Map.of("tandem.runtime.lease-ttl-ms", "10s")))
                .isInstanceOf(ConfigException.class).hasMessage("tandem.runtime.lease-ttl-ms must be an integer, got '10s'");
        assertThatThrownBy(() -> RuntimeConfig.fromProperties(Map.of("tandem.runtime.lease-ttl-ms", "10")))
                .isInstanceOf(ConfigException.class).hasMessage("tandem.runtime.lease-ttl-ms must be in [1000, 300000], got 10");
        assertThatThrownBy(() -> RuntimeConfig.fromProperties(Map.of("tandem.runtime.lease-tll-ms", "1000")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("unknown configuration key 'tandem.runtime.lease-tll-ms'");
        assertThatThrownBy(() -> RuntimeConfig.fromProperties(Map.of("tandem.runtime.namespace", "a.b")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("'a.b'");
        assertThatThrownBy(() -> RuntimeConfig.fromProperties(Map.of("tandem.runtime.events-queue-capacity", "99999999999")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("out of range");
    }
}
