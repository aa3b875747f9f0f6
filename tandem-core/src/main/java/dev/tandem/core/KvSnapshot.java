package dev.tandem.core;

import java.util.Arrays;

/**
 * Everything a worker's prefix cache holds, as of event {@code lastEventId}: replaying events
 * {@code 0..lastEventId} from empty gives exactly this set. {@code lastEventId} is -1 before
 * the first event.
 *
 * @param sequenceHashes registered blocks' sequence hashes, in no particular order
 */
public record KvSnapshot(long lastEventId, long[] sequenceHashes) {
    @Override
    public boolean equals(Object o) {
        return o instanceof KvSnapshot s && lastEventId == s.lastEventId
                && Arrays.equals(sequenceHashes, s.sequenceHashes);
    }

    @Override
    public int hashCode() {
        return Long.hashCode(lastEventId) * 31 + Arrays.hashCode(sequenceHashes);
    }

    @Override
    public String toString() {
        return "KvSnapshot[lastEventId=" + lastEventId + ", blocks=" + sequenceHashes.length + "]";
    }
}
