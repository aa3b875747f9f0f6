package dev.tandem.cli.planner;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Decides how many prefill and decode workers the cluster needs from one window of measurements.
 * No I/O and no thread: time comes from an injected clock, so tests drive it with synthetic
 * metric sequences.
 *
 * <h2>Rules, per pool</h2>
 * <pre>
 *                 prefill pool                               decode pool
 * pressure        p95 TTFT &gt; --ttft-slo-ms, or            p95 ITL &gt; --itl-slo-ms, or decode waiting
 *                 queued + prefill waiting                 &gt; queuePerWorker * workers, or KV usage &gt; 0.9
 *                 &gt; queuePerWorker * workers
 * headroom        idle, or p95 TTFT &lt; headroomRatio * SLO    idle, or nothing waiting and either p95 ITL
 *                 with nothing waiting                     &lt; headroomRatio * SLO with KV usage &lt; 0.5,
 *                                                          or KV usage &lt; 0.25 (the pool is mostly empty:
 *                                                          its latency is not its load's doing)
 * </pre>
 * Under pressure a pool grows by one worker; with headroom held for {@code scaleDownHoldMs} it
 * shrinks by one (and the hold starts again, so it steps down slowly). Between the two, nothing
 * changes: latency between {@code headroomRatio * SLO} and the SLO is the hysteresis band. After
 * a pool changes it waits {@code cooldownMs} before the next change (a new worker needs time to
 * start and take load). Sizes always stay within the pool's bounds; a size outside them is
 * corrected at once.
 *
 * <p>Not thread-safe: one planner loop calls it.
 */
public final class PoolPlanner {
    /** Decode KV usage above which the decode pool grows (sequences will soon be preempted). */
    static final double KV_HIGH = 0.9;
    /** Decode KV usage below which the decode pool may shrink when its ITL is well under the objective. */
    static final double KV_LOW = 0.5;
    /**
     * Decode KV usage below which the decode pool may shrink whatever its ITL (short of a miss):
     * n workers at this usage fit in n - 1 at under {@code 2 * KV_IDLE}.
     */
    static final double KV_IDLE = 0.25;

    private final PlannerConfig config;
    private final LongSupplier clockMs;
    /** When each pool last changed, ms; absent when never. */
    private final Map<Pool, Long> lastChangeMs = new EnumMap<>(Pool.class);
    /** Since when each pool has had headroom without a break, ms; absent when it has none now. */
    private final Map<Pool, Long> headroomSinceMs = new EnumMap<>(Pool.class);

    public PoolPlanner(PlannerConfig config, LongSupplier clockMs) {
        this.config = config;
        this.clockMs = clockMs;
    }

    public PlannerConfig config() {
        return config;
    }

    /** The sizes wanted now, given the window {@code o} and the pools' current sizes. */
    public Decision decide(Observation o, int prefillNow, int decodeNow) {
        long now = clockMs.getAsLong();
        List<String> reasons = new ArrayList<>();
        int prefill = decide(Pool.PREFILL, prefillNow, o, now, reasons);
        int decode = decide(Pool.DECODE, decodeNow, o, now, reasons);
        return new Decision(prefill, decode, reasons.isEmpty() ? "steady" : String.join("; ", reasons));
    }

    private int decide(Pool pool, int current, Observation o, long now, List<String> reasons) {
        int bounded = config.clamp(pool, current);
        if (bounded != current) {
            changed(pool, now);
            reasons.add(pool.role() + " " + current + " -> " + bounded + " (bounds " + config.min(pool) + ".."
                    + config.max(pool) + ")");
            return bounded;
        }
        String pressure = pressure(pool, current, o);
        if (pressure != null) {
            headroomSinceMs.remove(pool);
            if (current >= config.max(pool)) {
                reasons.add(pressure + ", " + pool.role() + " at its maximum " + current);
                return current;
            }
            if (!cooled(pool, now)) {
                reasons.add(pressure + ", " + pool.role() + " cooling down");
                return current;
            }
            changed(pool, now);
            reasons.add(pressure + ": " + pool.role() + " " + current + " -> " + (current + 1));
            return current + 1;
        }
        if (!headroom(pool, o)) {
            headroomSinceMs.remove(pool);
            return current;
        }
        long since = headroomSinceMs.computeIfAbsent(pool, p -> now);
        if (current <= config.min(pool) || now - since < config.scaleDownHoldMs() || !cooled(pool, now)) {
            return current;
        }
        changed(pool, now);
        headroomSinceMs.put(pool, now);
        reasons.add(pool.role() + " has had headroom for " + (now - since) + " ms: " + current + " -> " + (current - 1));
        return current - 1;
    }

    /** Why the pool needs another worker, or null. */
    private String pressure(Pool pool, int workers, Observation o) {
        double limit = config.queuePerWorker() * Math.max(1, workers);
        return switch (pool) {
            case PREFILL -> {
                if (o.ttftP95Ms() > config.ttftSloMs()) {
                    yield String.format(Locale.ROOT, "p95 TTFT %.0f ms > %.0f ms", o.ttftP95Ms(), config.ttftSloMs());
                }
                int waiting = o.queued() + o.prefillWaiting();
                yield waiting > limit ? waiting + " requests waiting for prefill" : null;
            }
            case DECODE -> {
                if (o.itlP95Ms() > config.itlSloMs()) {
                    yield String.format(Locale.ROOT, "p95 ITL %.1f ms > %.1f ms", o.itlP95Ms(), config.itlSloMs());
                }
                if (o.decodeWaiting() > limit) {
                    yield o.decodeWaiting() + " sequences waiting in decode workers";
                }
                yield o.decodeKvUsage() > KV_HIGH
                        ? String.format(Locale.ROOT, "decode KV usage %.2f", o.decodeKvUsage()) : null;
            }
        };
    }

    /** True when the pool could lose a worker: idle, or latency well under its objective with nothing waiting. */
    private boolean headroom(Pool pool, Observation o) {
        if (o.idle()) {
            return true;
        }
        double low = config.headroomRatio() * config.sloMs(pool);
        return switch (pool) {
            case PREFILL -> !(o.ttftP95Ms() >= low) && o.queued() + o.prefillWaiting() == 0;
            case DECODE -> o.decodeWaiting() == 0
                    && (!(o.itlP95Ms() >= low) && o.decodeKvUsage() < KV_LOW || o.decodeKvUsage() < KV_IDLE);
        };
    }

    private boolean cooled(Pool pool, long now) {
        Long last = lastChangeMs.get(pool);
        return last == null || now - last >= config.cooldownMs();
    }

    private void changed(Pool pool, long now) {
        lastChangeMs.put(pool, now);
    }
}
