package dev.tandem.runtime.transfer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.KvLayout;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ShmTransportTest extends KvTransportContract {
    private static final String HOST = "host-under-test";
    private final List<KvMemory> published = new ArrayList<>();

    @Override
    KvMemory newSourcePool(Arena arena, KvLayout layout, int blocks) {
        return TestPools.shmFile(arena, layout, blocks, "shm");
    }

    @Override
    KvTransport newTransport(TransferListener listener) {
        return new ShmTransport(HOST, listener);
    }

    @Override
    PullSource expose(KvMemory pool) {
        published.add(pool);
        return new PullSource(ShmTransport.publish(pool, HOST), TestPools.SMALL, 0);
    }

    @AfterEach
    void unpublishAll() {
        published.forEach(ShmTransport::unpublish);
    }

    @Test
    void publish_poolFileUnderDevShm_endpointNamesFile() {
        assertThat(pullSource.endpoint().kind()).isEqualTo(TransferKind.SHM);
        assertThat(pullSource.endpoint().address()).isEqualTo(source.backingFile().toAbsolutePath().toString());
        assertThat(Files.exists(ShmTransport.layoutFile(source.backingFile().toAbsolutePath()))).isTrue();
    }

    @Test
    void pull_otherHost_unreachable() {
        PullSource elsewhere = new PullSource(new TransferEndpoint(TransferKind.SHM, "other-host",
                pullSource.endpoint().address()), TestPools.SMALL, 0);
        TransferResult r = transport.pull(elsewhere, new int[] {1}, destination, new int[] {1}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.UNREACHABLE));
    }

    @Test
    void pull_fileGone_unreachable() throws IOException {
        transport.pull(pullSource, new int[] {1}, destination, new int[] {1}, soon()).orThrow();
        Files.delete(source.backingFile());
        TransferResult r = transport.pull(pullSource, new int[] {2}, destination, new int[] {2}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.UNREACHABLE));
        assertThat(TestPools.isZero(destination, 2)).isTrue();
    }

    @Test
    void pull_notPublished_unreachable() {
        ShmTransport.unpublish(source);
        TransferResult r = transport.pull(pullSource, new int[] {1}, destination, new int[] {1}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.message()).contains("not published"));
    }

    @Test
    void pull_fileReplacedByRestartedPeer_readsNewFile() throws IOException {
        transport.pull(pullSource, new int[] {1}, destination, new int[] {1}, soon()).orThrow();
        long before = TestPools.checksum(destination, 1);
        // the peer restarts: a new file (new inode) at the same path with other contents
        try (Arena other = Arena.ofShared()) {
            KvMemory restarted = TestPools.shmFile(other, TestPools.SMALL, SOURCE_BLOCKS, "restart");
            TestPools.fillRandom(restarted, 99);
            Files.move(restarted.backingFile(), source.backingFile(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            transport.pull(pullSource, new int[] {1}, destination, new int[] {1}, soon()).orThrow();
            assertThat(TestPools.checksum(destination, 1)).isEqualTo(TestPools.checksum(restarted, 1)).isNotEqualTo(before);
        }
    }

    @Test
    void pull_fileShrunk_rejectedWithoutFilling() throws IOException {
        try (var ch = java.nio.channels.FileChannel.open(source.backingFile(), java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(4 * source.blockBytes());
        }
        TransferResult r = transport.pull(pullSource, new int[] {10}, destination, new int[] {10}, soon());
        assertThat(r).isInstanceOfSatisfying(TransferResult.Failed.class,
                f -> assertThat(f.reason()).isEqualTo(TransferFailure.REJECTED));
        assertThat(TestPools.isZero(destination, 10)).isTrue();
    }
}
