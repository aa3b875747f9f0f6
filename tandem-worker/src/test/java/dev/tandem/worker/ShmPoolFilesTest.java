package dev.tandem.worker;

import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ShmPoolFilesTest {
    @TempDir
    Path dir;

    @Test
    void sweep_lockFileNobodyHolds_removesThePoolItsLayoutAndTheLock() throws Exception {
        Path pool = Files.writeString(dir.resolve("tandem-kv-dead.pool"), "kv");
        Path layout = Files.writeString(dir.resolve("tandem-kv-dead.pool.kvlayout"), "layout");
        Path lock = Files.writeString(ShmPoolFiles.lockFile(pool), "");

        assertThat(ShmPoolFiles.sweep(dir)).isEqualTo(1);

        assertThat(pool).doesNotExist();
        assertThat(layout).doesNotExist();
        assertThat(lock).doesNotExist();
    }

    @Test
    void sweep_poolWhoseLockIsHeld_keepsIt() throws Exception {
        Path pool = Files.writeString(dir.resolve("tandem-kv-alive.pool"), "kv");
        FileLock held = ShmPoolFiles.acquire(pool);
        try {
            assertThat(ShmPoolFiles.sweep(dir)).isZero();
            assertThat(pool).exists();
            assertThat(ShmPoolFiles.lockFile(pool)).exists();
        } finally {
            ShmPoolFiles.release(held, pool);
        }
        assertThat(ShmPoolFiles.lockFile(pool)).doesNotExist();
    }

    @Test
    void sweep_poolWithoutLockFile_isLeftAlone() throws Exception {
        Path pool = Files.writeString(dir.resolve("tandem-kv-unknown.pool"), "kv");

        assertThat(ShmPoolFiles.sweep(dir)).isZero();

        assertThat(pool).exists();
    }

    @Test
    void acquire_poolAlreadyLockedByThisProcess_failsNamingThePool() throws Exception {
        Path pool = dir.resolve("tandem-kv-twice.pool");
        FileLock held = ShmPoolFiles.acquire(pool);
        try {
            assertThatThrownBy(() -> ShmPoolFiles.acquire(pool)).hasMessageContaining(pool.toString());
        } finally {
            ShmPoolFiles.release(held, pool);
        }
    }
}
