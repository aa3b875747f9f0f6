package dev.tandem.runtime.transfer;

import dev.tandem.core.KvLayout;
import dev.tandem.core.TandemException;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * {@link TransferKind#SHM}: the serving pool is a file (under /dev/shm) that this process maps
 * read-only; a pull is one {@link MemorySegment#copy} per coalesced run from the mapping into
 * the destination pool, with no involvement of the serving process.
 *
 * <h2>Design</h2>
 * The serving worker allocates its pool with {@code KvPool.mapFile} and advertises
 * {@link #publish(KvMemory, String)}: kind SHM, its host id, the file's path; publishing also
 * writes a one-line layout file beside the pool file, so that the puller can check the pool's
 * real layout (not only the advertised one) before copying. The puller
 * learns which blocks to copy from the {@link dev.tandem.core.KvHandle}; the serving engine keeps
 * them pinned until the handle is released or expires, which is the only coordination needed.
 * Mappings are cached per path, keyed by the file's identity (device and inode) and size: a
 * serving worker that restarts recreates its file and the next pull maps the new one.
 *
 * <h2>Invariants</h2>
 * The mapping is read-only: a puller can never write into a peer's pool. Every requested block
 * lies inside the file as it is at the time of the pull; a pool whose layout file disagrees
 * with the destination layout, or whose size is not a whole number of blocks, is refused as a
 * layout mismatch before any byte is copied.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use. The mapping cache is a {@link ConcurrentHashMap}; a replaced mapping
 * belongs to an automatic arena and is unmapped by the garbage collector once no pull uses it,
 * so no pull can see its mapping closed under it. If the file is truncated during a copy (the
 * serving worker restarted mid-pull), the access faults with an {@link InternalError}, reported
 * as {@link TransferFailure#PEER_FAILED}.
 *
 * <h2>References</h2>
 * Dynamo/NIXL move blocks between processes of one host through CUDA IPC or POSIX shm in the
 * same spirit: the consumer maps the producer's region and copies.
 */
public final class ShmTransport implements KvTransport {
    private static final String LAYOUT_MAGIC = "tandem-kv-pool v1";

    /** A read-only mapping of a pool file and the layout line it was published with. */
    private record Mapping(Object fileKey, long sizeBytes, MemorySegment memory, String layoutLine) {
    }

    private final String hostId;
    private final TransferListener listener;
    // Path -> current read-only mapping; replaced when the file's identity or size changes.
    private final Map<Path, Mapping> mappings = new ConcurrentHashMap<>();
    private volatile boolean closed; // read by pulling threads, set by close()

    public ShmTransport(String hostId, TransferListener listener) {
        this.hostId = hostId;
        this.listener = listener;
    }

    /**
     * Serves {@code pool} over shared memory: writes the layout file next to the pool file and
     * returns the endpoint to advertise, or null if the pool is not file-backed. The serving
     * worker calls {@link #unpublish(KvMemory)} when it stops.
     */
    public static TransferEndpoint publish(KvMemory pool, String hostId) {
        Path file = pool.backingFile();
        if (file == null) {
            return null;
        }
        Path abs = file.toAbsolutePath();
        try {
            Files.writeString(layoutFile(abs), describe(pool.layout(), pool.blockCount()));
        } catch (IOException e) {
            throw new TandemException("cannot write KV layout file " + layoutFile(abs) + ": " + e.getMessage(), e);
        }
        return new TransferEndpoint(TransferKind.SHM, hostId, abs.toString());
    }

    /** Stops serving {@code pool} over shared memory (removes its layout file). */
    public static void unpublish(KvMemory pool) {
        if (pool.backingFile() != null) {
            try {
                Files.deleteIfExists(layoutFile(pool.backingFile().toAbsolutePath()));
            } catch (IOException e) {
                System.getLogger(ShmTransport.class.getName()).log(System.Logger.Level.WARNING,
                        "cannot delete KV layout file of " + pool.backingFile() + ": " + e.getMessage());
            }
        }
    }

    /**
     * The layout file of a pool file: one line of text,
     * {@code tandem-kv-pool v1 blockSize=16 layers=22 kvHeads=4 headDim=64 dtype=F16 blocks=1024}.
     */
    public static Path layoutFile(Path poolFile) {
        return poolFile.resolveSibling(poolFile.getFileName() + ".kvlayout");
    }

    static String describe(KvLayout layout, int blockCount) {
        return layoutPrefix(layout) + blockCount;
    }

    private static String layoutPrefix(KvLayout layout) {
        return LAYOUT_MAGIC + " " + layout.describe() + " blocks=";
    }

    @Override
    public TransferKind kind() {
        return TransferKind.SHM;
    }

    @Override
    public TransferResult pull(PullSource source, int[] sourceBlocks, KvMemory destination, int[] destinationBlocks,
                               Deadline deadline) {
        long startNanos = System.nanoTime();
        TransferEndpoint ep = source.endpoint();
        if (ep.kind() != TransferKind.SHM || !ep.scopeId().equals(hostId) || closed) {
            return fail(TransferFailure.UNREACHABLE, ep + " is not a shared-memory pool of this host ("
                    + hostId + ")" + (closed ? " or the transport is closed" : ""), null);
        }
        PullPlan plan = PullPlan.prepare(kind(), source, sourceBlocks, Integer.MAX_VALUE, destination,
                destinationBlocks, deadline);
        if (plan.failure() != null) {
            return TransferListener.report(listener, plan.failure());
        }
        Path file = Path.of(ep.address());
        Mapping mapping;
        try {
            mapping = map(file);
        } catch (NoSuchFileException e) {
            return fail(TransferFailure.UNREACHABLE, "pool file " + file + " does not exist", e);
        } catch (IOException e) {
            return fail(TransferFailure.UNREACHABLE, "cannot map pool file " + file + ": " + e.getMessage(), e);
        }
        if (mapping.layoutLine() == null) {
            return fail(TransferFailure.UNREACHABLE, "pool file " + file + " is not published (no layout file "
                    + layoutFile(file) + ")", null);
        }
        long blockBytes = destination.blockBytes();
        if (!mapping.layoutLine().startsWith(layoutPrefix(destination.layout()))
                || mapping.sizeBytes() % blockBytes != 0) {
            return fail(TransferFailure.LAYOUT_MISMATCH, "pool file " + file + " (" + mapping.sizeBytes()
                    + " bytes) is published as '" + mapping.layoutLine() + "', destination is "
                    + destination.layout().describe(), null);
        }
        long fileBlocks = mapping.sizeBytes() / blockBytes;
        for (BlockRun run : plan.runs()) {
            if (run.sourceFirst() + (long) run.blockCount() > fileBlocks) {
                return fail(TransferFailure.REJECTED, "blocks " + run.sourceFirst() + "+" + run.blockCount()
                        + " outside pool file " + file + " of " + fileBlocks + " blocks", null);
            }
        }
        try {
            if (!BlockRuns.copy(plan.runs(), blockBytes, mapping.memory(), destination.memory(), deadline)) {
                return fail(TransferFailure.DEADLINE, "deadline passed during copy from " + file, null);
            }
        } catch (InternalError e) {
            mappings.remove(file, mapping);
            return fail(TransferFailure.PEER_FAILED, "pool file " + file + " shrank during the copy", e);
        }
        return TransferListener.report(listener, new TransferResult.Done(kind(), plan.bytes(), plan.blocks(),
                plan.runs().size(), System.nanoTime() - startNanos));
    }

    /** The current mapping of {@code file}, mapping it anew if the file was replaced or resized. */
    private Mapping map(Path file) throws IOException {
        BasicFileAttributes attrs = Files.readAttributes(file, BasicFileAttributes.class);
        Mapping current = mappings.get(file);
        if (current != null && current.sizeBytes() == attrs.size() && java.util.Objects.equals(current.fileKey(), attrs.fileKey())) {
            return current;
        }
        String layoutLine;
        try {
            layoutLine = Files.readString(layoutFile(file)).trim();
        } catch (NoSuchFileException e) {
            layoutLine = null;
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            MemorySegment memory = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, Arena.ofAuto());
            Mapping fresh = new Mapping(attrs.fileKey(), size, memory, layoutLine);
            mappings.put(file, fresh);
            return fresh;
        }
    }

    private TransferResult fail(TransferFailure reason, String message, Throwable cause) {
        return TransferListener.report(listener, new TransferResult.Failed(kind(), reason, message, cause));
    }

    @Override
    public void close() {
        closed = true;
        mappings.clear();
    }
}
