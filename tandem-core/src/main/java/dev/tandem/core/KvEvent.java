package dev.tandem.core;

import java.util.Arrays;

/**
 * A change to the set of blocks a worker holds in its prefix cache. Each worker numbers its
 * events 0, 1, 2, ... without gaps, so a consumer that sees a jump knows it missed something
 * and asks for a {@link KvSnapshot}.
 */
public sealed interface KvEvent permits KvEvent.Stored, KvEvent.Removed, KvEvent.Cleared {

    /** Per-worker sequence number, starting at 0, incremented by one per event. */
    long eventId();

    /**
     * Blocks registered under their sequence hashes, in prompt order; block {@code i}'s parent is
     * block {@code i-1}, and block 0's parent is {@code parentHash} (when {@code hasParent}).
     *
     * @param sequenceHashes chained hashes ({@link BlockHasher}), one per block
     * @param localHashes    the blocks' own token hashes, same length
     */
    record Stored(long eventId, boolean hasParent, long parentHash, long[] sequenceHashes, long[] localHashes)
            implements KvEvent {
        public Stored {
            if (sequenceHashes.length == 0 || sequenceHashes.length != localHashes.length) {
                throw new IllegalArgumentException("stored event needs equal non-empty hash arrays, got "
                        + sequenceHashes.length + " and " + localHashes.length);
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Stored s && eventId == s.eventId && hasParent == s.hasParent
                    && parentHash == s.parentHash && Arrays.equals(sequenceHashes, s.sequenceHashes)
                    && Arrays.equals(localHashes, s.localHashes);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(eventId) * 31 + Arrays.hashCode(sequenceHashes);
        }

        @Override
        public String toString() {
            return "Stored[" + eventId + (hasParent ? ", parent=" + Long.toHexString(parentHash) : "")
                    + ", blocks=" + sequenceHashes.length + "]";
        }
    }

    /** Blocks evicted from the cache (their sequence hashes). */
    record Removed(long eventId, long[] sequenceHashes) implements KvEvent {
        public Removed {
            if (sequenceHashes.length == 0) {
                throw new IllegalArgumentException("removed event with no blocks");
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Removed r && eventId == r.eventId && Arrays.equals(sequenceHashes, r.sequenceHashes);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(eventId) * 31 + Arrays.hashCode(sequenceHashes);
        }

        @Override
        public String toString() {
            return "Removed[" + eventId + ", blocks=" + sequenceHashes.length + "]";
        }
    }

    /** Every block was dropped (reset). */
    record Cleared(long eventId) implements KvEvent {
    }
}
