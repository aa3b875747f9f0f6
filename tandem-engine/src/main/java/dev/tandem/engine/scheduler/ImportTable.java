package dev.tandem.engine.scheduler;

import dev.tandem.core.RequestException;
import dev.tandem.engine.ImportReservation;
import dev.tandem.engine.kvcache.BlockManager;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Prompts reserved for an import: a decode engine's sequences whose prompt blocks a peer provides
 * (see {@link ImportReservation}). Each holds its blocks (the cached prefix it reuses and the ones
 * the peer's K/V is copied into) until it is started, cancelled or expires. The decode side's
 * counterpart of {@link PinTable}, which holds a prefill engine's finished prompts for the peer.
 *
 * <p>Engine thread only.
 */
final class ImportTable {
    private final String engineName;
    private final BlockManager blocks;
    private final int blockSize;
    private final Map<Long, Sequence> reserved = new HashMap<>();

    ImportTable(String engineName, BlockManager blocks, int blockSize) {
        this.engineName = engineName;
        this.blocks = blocks;
        this.blockSize = blockSize;
    }

    /**
     * Reserves {@code s}'s prompt blocks: its longest cached prefix is reused, the rest allocated;
     * the sequence becomes RESERVED until {@code expiresAtNanos}. The caller checks that a
     * sequence slot is free.
     *
     * @throws RequestException UNAVAILABLE when the pool cannot hold the prompt (nothing is held then)
     */
    ImportReservation reserve(Sequence s, long expiresAtNanos) {
        int hit = blocks.matchPrefix(s.table, s.promptLength / blockSize);
        blocks.acquirePrefix(s.table, hit);
        if (!blocks.allocate(s.table, s.promptLength)) {
            int need = s.table.blocksFor(s.promptLength) - s.table.blockCount();
            blocks.release(s.table);
            throw new RequestException(RequestException.Kind.UNAVAILABLE, "engine " + engineName + " has "
                    + blocks.allocatableBlocks() + " free KV blocks, the prompt needs " + need + " more");
        }
        s.state = Sequence.State.RESERVED;
        s.computed = hit * blockSize;
        s.cachedPromptTokens = s.computed;
        s.expiresAtNanos = expiresAtNanos;
        reserved.put(s.arrival, s);
        return new ImportReservation(s.arrival, s.requestId(), s.promptLength, s.computed, s.table.blockIds(),
                blockSize, s.expiresAtNanos);
    }

    /** Removes and returns the reservation's sequence (its blocks still held), or null if unknown or expired. */
    Sequence take(long reservationId) {
        return reserved.remove(reservationId);
    }

    /** Forgets {@code s} (its blocks are the caller's to release). */
    void remove(Sequence s) {
        reserved.remove(s.arrival);
    }

    int size() {
        return reserved.size();
    }

    boolean isEmpty() {
        return reserved.isEmpty();
    }

    /** The reserved sequences, in no order (a copy). */
    List<Sequence> all() {
        return new ArrayList<>(reserved.values());
    }

    /** The reservations whose time has come (still listed; the caller finishes them). */
    List<Sequence> expired(long nowNanos) {
        List<Sequence> due = List.of();
        for (Sequence s : reserved.values()) {
            if (nowNanos - s.expiresAtNanos >= 0) {
                (due.isEmpty() ? due = new ArrayList<>() : due).add(s);
            }
        }
        return due;
    }

    /** The earliest expiry, or {@link Long#MAX_VALUE}. */
    long nextExpiryNanos() {
        long t = Long.MAX_VALUE;
        for (Sequence s : reserved.values()) {
            t = Math.min(t, s.expiresAtNanos);
        }
        return t;
    }

    /** Checks every entry is RESERVED and adds its blocks' references to {@code refs[block]}. */
    void countReferences(int[] refs) {
        Collection<Sequence> all = reserved.values();
        for (Sequence s : all) {
            Scheduler.check(s.state == Sequence.State.RESERVED, "reservation in state %s", s.state);
            Scheduler.countRefs(s, refs);
        }
    }
}
