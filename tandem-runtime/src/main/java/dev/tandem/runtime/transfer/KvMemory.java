package dev.tandem.runtime.transfer;

import dev.tandem.core.KvLayout;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * The transfer plane's view of one KV pool: {@code blockCount} blocks of
 * {@link KvLayout#blockBytes()} bytes, block {@code b} at {@code b * blockBytes} in {@code memory}
 * (block-major, one block is one contiguous range; see {@link KvLayout}). The engine's pool is
 * adapted to this view by the worker; the transfer plane never allocates or frees it.
 *
 * @param layout      block layout
 * @param blockCount  blocks in the pool
 * @param memory      the whole pool, native (off-heap or mapped); at least blockCount * blockBytes bytes
 * @param backingFile the file the pool is mapped from (for example under /dev/shm), or null for
 *                    anonymous memory; a file-backed pool can be served over shared memory
 */
public record KvMemory(KvLayout layout, int blockCount, MemorySegment memory, Path backingFile) {
    public KvMemory {
        if (layout == null || memory == null) {
            throw new IllegalArgumentException("KV memory needs a layout and a segment");
        }
        if (blockCount <= 0) {
            throw new IllegalArgumentException("KV memory needs at least one block, got " + blockCount);
        }
        if (!memory.isNative()) {
            throw new IllegalArgumentException("KV memory must be native (off-heap or mapped), got a heap segment");
        }
        long needBytes = layout.blockBytes() * blockCount;
        if (memory.byteSize() < needBytes) {
            throw new IllegalArgumentException("KV memory of " + memory.byteSize() + " bytes is smaller than "
                    + blockCount + " blocks of " + layout.blockBytes() + " bytes");
        }
    }

    /** Anonymous memory (no backing file). */
    public static KvMemory of(KvLayout layout, int blockCount, MemorySegment memory) {
        return new KvMemory(layout, blockCount, memory, null);
    }

    public long blockBytes() {
        return layout.blockBytes();
    }

    /** {@code count} consecutive blocks from {@code first}, as one segment. */
    public MemorySegment blocks(int first, int count) {
        if (first < 0 || count < 0 || (long) first + count > blockCount) {
            throw new IndexOutOfBoundsException("blocks " + first + "+" + count + " outside pool of " + blockCount);
        }
        return memory.asSlice(first * layout.blockBytes(), count * layout.blockBytes());
    }
}
