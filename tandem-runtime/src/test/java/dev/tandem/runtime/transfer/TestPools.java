package dev.tandem.runtime.transfer;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.SplittableRandom;
import java.util.zip.CRC32C;

/** Pools for transfer tests: anonymous or in a /dev/shm file, filled with seeded random bytes. */
final class TestPools {
    /** A small layout: 4 tokens x 2 layers x 2 heads x 8 dims x f16 = 512-byte blocks. */
    static final KvLayout SMALL = new KvLayout(4, 2, 2, 8, KvDtype.F16);

    private TestPools() {
    }

    static KvMemory anonymous(Arena arena, KvLayout layout, int blocks) {
        return KvMemory.of(layout, blocks, arena.allocate(layout.blockBytes() * blocks, 64));
    }

    /** A pool mapped read-write from a new file under /dev/shm (or the temp dir if absent). */
    static KvMemory shmFile(Arena arena, KvLayout layout, int blocks, String name) {
        Path dir = Files.isDirectory(Path.of("/dev/shm")) ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir"));
        Path file = dir.resolve("tandem-test-" + name + "-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        long bytes = layout.blockBytes() * blocks;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
                StandardOpenOption.WRITE)) {
            ch.truncate(bytes);
            ch.write(java.nio.ByteBuffer.wrap(new byte[1]), bytes - 1);
            MemorySegment memory = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            file.toFile().deleteOnExit();
            return new KvMemory(layout, blocks, memory, file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void fillRandom(KvMemory pool, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        MemorySegment m = pool.memory();
        long n = pool.blockBytes() * pool.blockCount();
        for (long i = 0; i + 8 <= n; i += 8) {
            m.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, i, random.nextLong());
        }
    }

    static long checksum(KvMemory pool, int block) {
        CRC32C crc = new CRC32C();
        crc.update(pool.blocks(block, 1).asByteBuffer());
        return crc.getValue();
    }

    /** True if every byte of {@code block} is zero. */
    static boolean isZero(KvMemory pool, int block) {
        return pool.blocks(block, 1).elements(java.lang.foreign.ValueLayout.JAVA_BYTE)
                .allMatch(b -> b.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0) == 0);
    }

    static void delete(KvMemory pool) {
        if (pool.backingFile() != null) {
            try {
                Files.deleteIfExists(pool.backingFile());
            } catch (IOException ignored) {
                // the file is also deleted on exit
            }
        }
    }
}
