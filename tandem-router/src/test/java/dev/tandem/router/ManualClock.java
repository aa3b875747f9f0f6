package dev.tandem.router;

import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/** A clock tests advance by hand. */
final class ManualClock implements LongSupplier {
    private long nowNs;

    ManualClock(long startNs) {
        this.nowNs = startNs;
    }

    @Override
    public long getAsLong() {
        return nowNs;
    }

    void advanceMs(long ms) {
        nowNs += TimeUnit.MILLISECONDS.toNanos(ms);
    }
}
