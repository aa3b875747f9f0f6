package dev.tandem.engine.scheduler;

import dev.tandem.engine.kvcache.BlockManager;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Blocks held for a peer after their request finished (a prefill worker's prompt blocks), each
 * pin one reference per block, released on demand or when it expires.
 *
 * <p>Engine thread only.
 */
final class PinTable {
    private static final System.Logger LOG = System.getLogger(PinTable.class.getName());

    private record Pin(long id, int[] blocks, long expiresAtNanos) {
    }

    private final BlockManager blocks;
    private final Map<Long, Pin> pins = new HashMap<>();
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
        pins.put(id, new Pin(id, blockIds.clone(), expiresAtNanos));
        return id;
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
