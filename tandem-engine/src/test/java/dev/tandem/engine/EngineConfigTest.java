package dev.tandem.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.engine.mock.TimingProfile;
import org.junit.jupiter.api.Test;

class EngineConfigTest {

    @Test
    void defaults_areTheDocumentedValues() {
        EngineConfig c = EngineConfig.DEFAULT;
        assertThat(c.blockSizeTokens()).isEqualTo(16);
        assertThat(c.kvBlocks()).isZero();
        assertThat(c.kvCacheMemoryBytes()).isEqualTo(2L << 30);
        assertThat(c.kvDtype()).isEqualTo(KvDtype.F16);
        assertThat(c.maxBatchTokens()).isEqualTo(512);
        assertThat(c.maxSequences()).isEqualTo(64);
    }

    @Test
    void parseBytes_unitsAndPlainCounts() {
        assertThat(EngineConfig.parseBytes("2GiB")).isEqualTo(2L << 30);
        assertThat(EngineConfig.parseBytes("512MiB")).isEqualTo(512L << 20);
        assertThat(EngineConfig.parseBytes("1.5g")).isEqualTo(3L << 29);
        assertThat(EngineConfig.parseBytes("2GB")).isEqualTo(2_000_000_000L);
        assertThat(EngineConfig.parseBytes("64k")).isEqualTo(65_536L);
        assertThat(EngineConfig.parseBytes(" 1000 ")).isEqualTo(1000L);
        assertThatThrownBy(() -> EngineConfig.parseBytes("lots")).isInstanceOf(ConfigException.class).hasMessageContaining("'lots'");
        assertThatThrownBy(() -> EngineConfig.parseBytes("0")).isInstanceOf(ConfigException.class);
    }

    @Test
    void resolveBlockCount_fromMemoryOrExplicit() {
        KvLayout layout = new KvLayout(16, 22, 4, 64, KvDtype.F16); // 16*4*64*2 bytes * 2 * 22 = 360,448 B per block
        assertThat(EngineConfig.DEFAULT.resolveBlockCount(layout)).isEqualTo((int) ((2L << 30) / 360_448));
        assertThat(EngineConfig.DEFAULT.withKvBlocks(100).resolveBlockCount(layout)).isEqualTo(100);
        assertThatThrownBy(() -> EngineConfig.DEFAULT.withKvCacheMemoryBytes(1000).resolveBlockCount(layout))
                .isInstanceOf(ConfigException.class).hasMessageContaining("smaller than one block");
        assertThatThrownBy(() -> EngineConfig.DEFAULT.withBlockSizeTokens(32).resolveBlockCount(layout))
                .isInstanceOf(ConfigException.class).hasMessageContaining("block size");
    }

    @Test
    void validation_badValues_failWithTheValue() {
        assertThatThrownBy(() -> EngineConfig.DEFAULT.withBlockSizeTokens(0)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("got 0");
        assertThatThrownBy(() -> EngineConfig.DEFAULT.withMaxSequences(600)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("max batch tokens");
        assertThatThrownBy(() -> EngineConfig.DEFAULT.withKvBlocks(-1)).isInstanceOf(ConfigException.class);
        assertThatThrownBy(() -> EngineConfig.DEFAULT.withPinTtlMs(0)).isInstanceOf(ConfigException.class);
    }

    @Test
    void mockProfile_defaultAndCalibrated_resolveToTheirProfiles() {
        assertThat(EngineConfig.DEFAULT.mockProfile()).isEqualTo("dynamo");
        assertThat(EngineConfig.DEFAULT.mockTiming()).isEqualTo(TimingProfile.DYNAMO);
        EngineConfig c = EngineConfig.DEFAULT.withMockProfile("tinyllama-q8-cpu2t").withKvBlocks(8);
        assertThat(c.mockTiming()).isEqualTo(TimingProfile.TINYLLAMA_Q8_CPU2T);
        assertThat(c.kvBlocks()).as("later withers keep the profile").isEqualTo(8);
        assertThat(c.mockProfile()).isEqualTo("tinyllama-q8-cpu2t");
    }

    @Test
    void mockProfile_unknownName_failsNamingTheKnownProfiles() {
        assertThatThrownBy(() -> EngineConfig.DEFAULT.withMockProfile("h100"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("'h100'").hasMessageContaining("dynamo").hasMessageContaining("tinyllama-q8-cpu2t");
        assertThatThrownBy(() -> EngineConfig.DEFAULT.withMockProfile(null)).isInstanceOf(ConfigException.class);
    }
}
