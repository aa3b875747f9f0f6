package dev.tandem.runtime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.TestAbortedException;

class PrerequisitesTest {
    @TempDir
    Path dir;

    @Test
    void server_notOnThePath_skipsNamingThePackageAndTheCommandThatInstallsIt() {
        assertThatThrownBy(() -> Prerequisites.server("etcd", "etcd-server", dir.toString(), Map.of()))
                .isInstanceOf(TestAbortedException.class)
                .hasMessageContaining("etcd is not on the PATH: run bin/setup")
                .hasMessageContaining("apt-get install -y etcd-server")
                .hasMessageContaining("TANDEM_REQUIRE_SERVERS=1 makes it a failure");
    }

    @Test
    void server_notOnThePathWhereRequired_fails() {
        assertThatThrownBy(() -> Prerequisites.server("etcd", "etcd-server", dir.toString(),
                Map.of("TANDEM_REQUIRE_SERVERS", "1")))
                .isInstanceOf(AssertionError.class)
                .hasMessageContaining("etcd is not on the PATH")
                .hasMessageContaining("required here: TANDEM_REQUIRE_SERVERS=1");
    }

    @Test
    void server_onThePath_runs() throws IOException {
        executable(dir.resolve("etcd"));
        String path = "/nonexistent" + File.pathSeparator + dir;

        assertThatCode(() -> Prerequisites.server("etcd", "etcd-server", path, Map.of("TANDEM_REQUIRE_SERVERS", "1")))
                .doesNotThrowAnyException();
    }

    @Test
    void onPath_onlyExecutableFiles() throws IOException {
        Files.writeString(dir.resolve("plain"), "");
        Files.createDirectory(dir.resolve("folder"));
        executable(dir.resolve("tool"));

        assertThat(Prerequisites.onPath("tool", dir.toString())).isTrue();
        assertThat(Prerequisites.onPath("plain", dir.toString())).isFalse();
        assertThat(Prerequisites.onPath("folder", dir.toString())).isFalse();
        assertThat(Prerequisites.onPath("tool", null)).isFalse();
    }

    @Test
    void check_requireVariableOtherThanOne_skips() {
        assertThatThrownBy(() -> Prerequisites.check(false, "TANDEM_REQUIRE_UCX", Map.of("TANDEM_REQUIRE_UCX", "0"),
                () -> "UCX cannot be loaded")).isInstanceOf(TestAbortedException.class).hasMessageStartingWith(
                "UCX cannot be loaded (skipped;");
    }

    @Test
    void majorVersion_ofNodeVersions() {
        assertThat(Prerequisites.majorVersion("v20.20.2")).isEqualTo(20);
        assertThat(Prerequisites.majorVersion("v18.19.0")).isEqualTo(18);
        assertThat(Prerequisites.majorVersion("none")).isZero();
    }

    private static void executable(Path file) throws IOException {
        Files.writeString(file, "#!/bin/sh\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
}
