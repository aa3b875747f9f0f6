package dev.tandem.runtime.registry;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostIdentityTest {
    @Test
    void current_isStableWithinProcess() {
        assertThat(HostIdentity.current()).isNotBlank().isEqualTo(HostIdentity.current());
    }

    @Test
    void fromFiles_firstReadableNonEmptyWins_elseHostName(@TempDir Path dir) throws Exception {
        Path empty = Files.writeString(dir.resolve("empty"), "\n");
        Path id = Files.writeString(dir.resolve("machine-id"), "abc123\n");
        assertThat(HostIdentity.fromFiles(List.of(dir.resolve("missing"), empty, id))).isEqualTo("machine-id:abc123");
        assertThat(HostIdentity.fromFiles(List.of(dir.resolve("missing")))).startsWith("hostname:");
    }
}
