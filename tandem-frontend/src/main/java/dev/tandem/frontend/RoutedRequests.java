package dev.tandem.frontend;

import java.util.ArrayList;
import java.util.List;

/**
 * The routing decisions of one HTTP request: one per prompt, plus one per stream moved to another
 * worker. Closing it closes every decision once: the one place a request gives the router's
 * load back. Safe for concurrent use.
 */
final class RoutedRequests implements AutoCloseable {
    private final List<RoutedRequest> all = new ArrayList<>();
    private boolean closed; // guarded by this

    /** Holds {@code r} until the request ends; closes it at once if the request already ended. */
    RoutedRequest add(RoutedRequest r) {
        synchronized (this) {
            if (!closed) {
                all.add(r);
                return r;
            }
        }
        r.close();
        return r;
    }

    /** Decisions held so far, in the order they were made. */
    synchronized List<RoutedRequest> all() {
        return List.copyOf(all);
    }

    @Override
    public void close() {
        List<RoutedRequest> held;
        synchronized (this) {
            closed = true;
            held = List.copyOf(all);
        }
        for (RoutedRequest r : held) {
            r.close();
        }
    }
}
