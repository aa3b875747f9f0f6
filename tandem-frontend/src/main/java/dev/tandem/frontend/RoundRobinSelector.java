package dev.tandem.frontend;

import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/** Takes the candidates in turn. Safe for concurrent use. */
public final class RoundRobinSelector implements WorkerSelector {
    /** Incremented by every request thread. */
    private final AtomicLong next = new AtomicLong();

    @Override
    public RoutedRequest select(RoutingRequest request, List<Worker> candidates) {
        int i = (int) Math.floorMod(next.getAndIncrement(), (long) candidates.size());
        return RoutedRequest.untracked(candidates.get(i));
    }
}
