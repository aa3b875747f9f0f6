package dev.tandem.engine.scheduler;

import dev.tandem.engine.kvcache.BlockManager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Blocks held for a peer after their request finished (a prefill worker's prompt blocks), each
 * pin one reference per block, released on demand or when it expires. The one record of a
 * worker's pins: the transfer plane's read guard asks {@link #covers} here too.
 *
 * <p>Engine thread only, except {@link #covers} and {@link #liveCount}, which any thread may call:
 * they read the concurrent map, in which an entry is complete before it is added.
 */
final class PinTable {
    private static final System.Logger LOG = System.getLogger(PinTable.class.getName());

    /** One pin: its blocks in table order, the same sorted (for {@link #covers}), its expiry. */
    private record Pin(long id, int[] blocks, int[] sortedBlocks, long expiresAtNanos) {
    }

    private final BlockManager blocks;
    /** Why concurrent: written on the engine thread, read by transfer-server and metrics threads. */
    private final Map<Long, Pin> pins = new ConcurrentHashMap<>();
    private long nextId;

    PinTable(BlockManager blocks) {
        this.blocks = blocks;
    }

    /** Takes one reference on each block and returns the pin's id. */
    long pin(int[] blockIds, long expiresAtNanos) {
        for (int b : blockIds) {
            blocks.retain(b);
        }
        long id = nextId++;
        int[] sorted = blockIds.clone();
        Arrays.sort(sorted);
        pins.put(id, new Pin(id, blockIds.clone(), sorted, expiresAtNanos));
        return id;
    }

    /**
     * Any thread: true if pin {@code id} is held, holds every block of
     * [{@code firstBlock}, {@code firstBlock + blockCount}) and expires after {@code untilNanos}.
     */
    boolean covers(long id, int firstBlock, int blockCount, long untilNanos) {
        Pin p = pins.get(id);
        if (p == null || untilNanos - p.expiresAtNanos >= 0) {
            return false;
        }
        for (int b = firstBlock; b < firstBlock + blockCount; b++) {
            if (Arrays.binarySearch(p.sortedBlocks, b) < 0) {
                return false;
            }
        }
        return true;
    }

    /** Any thread: pins held and not expired at {@code nowNanos} (an expired one may await {@link #expire}). */
    int liveCount(long nowNanos) {
        int n = 0;
        for (Pin p : pins.values()) {
            if (nowNanos - p.expiresAtNanos < 0) {
                n++;
            }
        }
        return n;
    }

    /** Drops the pin's references, last block first; false if no such pin. */
    boolean release(long id) {
        Pin p = pins.remove(id);
        if (p == null) {
            return false;
        }
        for (int i = p.blocks.length - 1; i >= 0; i--) {
            blocks.release(p.blocks[i]);
        }
        return true;
    }

    /** Releases every pin whose time has come; returns how many. */
    int expire(long nowNanos, String engineName) {
        if (pins.isEmpty()) {
            return 0;
        }
        List<Long> expired = new ArrayList<>();
        for (Pin p : pins.values()) {
            if (nowNanos - p.expiresAtNanos >= 0) {
                expired.add(p.id);
            }
        }
        for (long id : expired) {
            LOG.log(System.Logger.Level.INFO, "engine {0}: prompt pin {1} expired unreleased", engineName, id);
            release(id);
        }
        return expired.size();
    }

    void releaseAll() {
        for (long id : new ArrayList<>(pins.keySet())) {
            release(id);
        }
    }

    /** The earliest expiry, or {@link Long#MAX_VALUE}. */
    long nextExpiryNanos() {
        long t = Long.MAX_VALUE;
        for (Pin p : pins.values()) {
            t = Math.min(t, p.expiresAtNanos);
        }
        return t;
    }

    /** Adds each pinned block's reference to {@code refs[block]} (invariant checks). */
    void countReferences(int[] refs) {
        for (Pin p : pins.values()) {
            for (int b : p.blocks) {
                refs[b]++;
            }
        }
    }
}
