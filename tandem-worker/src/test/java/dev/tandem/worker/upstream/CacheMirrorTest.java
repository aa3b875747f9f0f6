package dev.tandem.worker.upstream;

import dev.tandem.core.KvEvent;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class CacheMirrorTest {
    private final List<KvEvent> events = new CopyOnWriteArrayList<>();

    private CacheMirror mirror(int capacity, boolean approximate) {
        CacheMirror m = new CacheMirror(capacity, approximate);
        m.subscribe(events::add);
        return m;
    }

    /** A chain of {@code n} distinct hashes starting at {@code first}. */
    private static long[] chain(long first, int n) {
        long[] h = new long[n];
        for (int i = 0; i < n; i++) {
            h[i] = first + i;
        }
        return h;
    }

    private static long[] concat(long[] a, long[] b) {
        long[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void beforeRequest_storesOnlyTheNewBlocksWithTheirParent() {
        CacheMirror m = mirror(100, true);
        long[] a = chain(100, 3);
        long[] ab = concat(a, chain(200, 2));

        CacheMirror.Ticket first = m.beforeRequest(a, a);
        CacheMirror.Ticket second = m.beforeRequest(ab, ab);

        assertThat(first.believedBlocks()).isZero();
        assertThat(second.believedBlocks()).isEqualTo(3);
        assertThat(events).containsExactly(new KvEvent.Stored(0, false, 0, a, a),
                new KvEvent.Stored(1, true, 102, chain(200, 2), chain(200, 2)));
    }

    @Test
    void afterRequest_fewerCachedThanBelieved_removesEverythingUsedNoLaterThanTheMissingBlock() {
        CacheMirror m = mirror(100, true);
        long[] old = chain(100, 2);
        long[] conversation = chain(200, 3);
        long[] newer = chain(300, 2);
        for (long[] prompt : List.of(old, conversation, newer)) {
            m.afterRequest(m.beforeRequest(prompt, prompt), 0, prompt, prompt); // sent and answered
        }
        events.clear();

        CacheMirror.Ticket t = m.beforeRequest(conversation, conversation);
        // the server served only the first block: block 1 (and so everything as old as it) was evicted
        m.afterRequest(t, 1, conversation, conversation);

        assertThat(t.believedBlocks()).isEqualTo(3);
        assertThat(events).hasSize(1);
        assertThat(events.getFirst()).isInstanceOfSatisfying(KvEvent.Removed.class,
                r -> assertThat(r.sequenceHashes()).containsExactlyInAnyOrder(100, 101));
        assertThat(m.holds(300)).as("used after the evicted block").isTrue();
        assertThat(m.holds(201)).as("this request's blocks are cached again").isTrue();
    }

    @Test
    void afterRequest_missingBlockOnlySentNotYetAnswered_infersNoEviction() {
        CacheMirror m = mirror(100, true);
        long[] old = chain(100, 2);
        long[] shared = chain(200, 3);
        m.afterRequest(m.beforeRequest(old, old), 0, old, old);
        CacheMirror.Ticket first = m.beforeRequest(shared, shared);
        CacheMirror.Ticket second = m.beforeRequest(shared, shared); // sent while the first still computes
        events.clear();

        // the server computed the second one's prompt alongside the first: nothing of it was cached yet
        m.afterRequest(second, 0, shared, shared);
        m.afterRequest(first, 0, shared, shared);

        assertThat(second.believedBlocks()).isEqualTo(3);
        assertThat(events).isEmpty();
        assertThat(m.holds(100)).isTrue();
    }

    @Test
    void afterRequest_asManyCachedAsBelieved_removesNothing() {
        CacheMirror m = mirror(100, true);
        long[] a = chain(100, 2);
        m.beforeRequest(a, a);
        CacheMirror.Ticket t = m.beforeRequest(a, a);
        events.clear();

        m.afterRequest(t, 2, a, a);

        assertThat(events).isEmpty();
        assertThat(m.size()).isEqualTo(2);
    }

    @Test
    void capacity_evictsTheLeastRecentlyUsedBlocks() {
        CacheMirror m = mirror(4, true);
        long[] a = chain(100, 2);
        long[] b = chain(200, 2);
        long[] c = chain(300, 2);
        m.beforeRequest(a, a);
        m.beforeRequest(b, b);
        m.beforeRequest(a, a); // a is used again: b is now the oldest
        events.clear();

        m.beforeRequest(c, c);

        assertThat(events).containsExactly(new KvEvent.Stored(2, false, 0, c, c), new KvEvent.Removed(3, b));
        assertThat(m.snapshot().sequenceHashes()).containsExactlyInAnyOrder(100, 101, 300, 301);
        assertThat(m.snapshot().lastEventId()).isEqualTo(3);
    }

    @Test
    void relay_appliesTheServersOwnEventsRenumbered_andRequestsAddNothing() {
        CacheMirror m = mirror(100, false);
        long[] a = chain(100, 2);

        m.beforeRequest(chain(900, 3), chain(900, 3));
        m.relay(new KvEvent.Stored(57, false, 0, a, a));
        m.relay(new KvEvent.Removed(58, new long[] {101, 555}));
        m.relay(new KvEvent.Cleared(59));

        assertThat(events).containsExactly(new KvEvent.Stored(0, false, 0, a, a),
                new KvEvent.Removed(1, new long[] {101}), new KvEvent.Cleared(2));
        assertThat(m.snapshot().sequenceHashes()).isEmpty();
    }
}
