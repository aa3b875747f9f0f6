package dev.tandem.engine.kvcache;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvLayout;
import dev.tandem.core.TandemException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The KV cache memory of one engine: {@code blockCount} blocks of {@link KvLayout#blockBytes()}
 * bytes each, off-heap.
 *
 * <h2>Design</h2>
 * Block-major, so that one block is one contiguous range and a run of consecutive blocks moves
 * with one copy:
 * <pre>
 * pool:  | block 0 | block 1 | ... | block blockCount-1 |      block b at b * blockBytes
 * block: | L0 K [slot][kvHeads*headDim] | L0 V [slot][...] | L1 K | L1 V | ...   (see KvLayout)
 * </pre>
 * The row of token {@code slot} of layer {@code l} is at
 * {@code blockOffset(b) + layout.keyOffset(l) + slot * layout.rowBytes()} (K) and at
 * {@code layout.valueOffset(l)} likewise (V). Elements are native-order floats (F32) or IEEE
 * half floats (F16).
 *
 * <p>The pool may live in a file (for example under /dev/shm) so that another process on the
 * same host can map it read-only and copy blocks out with no server involvement.
 *
 * <h2>Concurrency</h2>
 * This class only addresses memory; it owns no bookkeeping. Writes to a block happen on the
 * engine thread; transfers read blocks that the block manager keeps pinned. The owner (the
 * engine) closes the pool, which frees or unmaps the memory.
 */
public final class KvPool implements AutoCloseable {
    private final KvLayout layout;
    private final int blockCount;
    private final long blockBytes;
    private final Arena arena;
    private final MemorySegment memory;
    private final Path backingFile;

    private KvPool(KvLayout layout, int blockCount, Arena arena, MemorySegment memory, Path backingFile) {
        this.layout = layout;
        this.blockCount = blockCount;
        this.blockBytes = layout.blockBytes();
        this.arena = arena;
        this.memory = memory;
        this.backingFile = backingFile;
    }

    /** A zeroed pool in anonymous off-heap memory. */
    public static KvPool allocate(KvLayout layout, int blockCount) {
        checkCount(blockCount);
        Arena arena = Arena.ofShared();
        MemorySegment memory = arena.allocate(layout.blockBytes() * blockCount, 64);
        return new KvPool(layout, blockCount, arena, memory, null);
    }

    /**
     * A pool backed by {@code file} (created or truncated to size), mapped read-write, so that
     * peers on the same host can map it read-only. The file is deleted on {@link #close()}.
     */
    public static KvPool mapFile(KvLayout layout, int blockCount, Path file) {
        checkCount(blockCount);
        long bytes = layout.blockBytes() * blockCount;
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.truncate(0);
            if (bytes > 0) {
                ch.write(java.nio.ByteBuffer.wrap(new byte[1]), bytes - 1);
            }
            MemorySegment memory = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
            return new KvPool(layout, blockCount, arena, memory, file);
        } catch (IOException e) {
            arena.close();
            throw new TandemException("cannot create KV pool file " + file + " (" + bytes + " bytes): " + e.getMessage(), e);
        }
    }

    private static void checkCount(int blockCount) {
        if (blockCount <= 0) {
            throw new ConfigException("the KV pool needs at least one block, got " + blockCount);
        }
    }

    public KvLayout layout() {
        return layout;
    }

    public int blockCount() {
        return blockCount;
    }

    public long blockBytes() {
        return blockBytes;
    }

    /** The whole pool. */
    public MemorySegment memory() {
        return memory;
    }

    /** The file behind the pool, or null for anonymous memory. */
    public Path backingFile() {
        return backingFile;
    }

    /** Byte offset of block {@code block} in {@link #memory()}. */
    public long blockOffset(int block) {
        if (block < 0 || block >= blockCount) {
            throw new IndexOutOfBoundsException("block " + block + " outside pool of " + blockCount);
        }
        return block * blockBytes;
    }

    /** One block's bytes. */
    public MemorySegment block(int block) {
        return memory.asSlice(blockOffset(block), blockBytes);
    }

    /** {@code count} consecutive blocks from {@code first}, as one segment. */
    public MemorySegment blocks(int first, int count) {
        if (count < 0 || first + count > blockCount) {
            throw new IndexOutOfBoundsException("blocks " + first + "+" + count + " outside pool of " + blockCount);
        }
        return memory.asSlice(blockOffset(first), count * blockBytes);
    }

    /** Byte offset of the K row of {@code slot} in layer {@code layer} of block {@code block}. */
    public long keyRowOffset(int block, int layer, int slot) {
        return block * blockBytes + layout.keyOffset(layer) + slot * layout.rowBytes();
    }

    /** Byte offset of the V row of {@code slot} in layer {@code layer} of block {@code block}. */
    public long valueRowOffset(int block, int layer, int slot) {
        return block * blockBytes + layout.valueOffset(layer) + slot * layout.rowBytes();
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
        if (backingFile != null) {
            try {
                Files.deleteIfExists(backingFile);
            } catch (IOException e) {
                System.getLogger(KvPool.class.getName()).log(System.Logger.Level.WARNING,
                        "cannot delete KV pool file " + backingFile + ": " + e.getMessage());
            }
        }
    }
}
