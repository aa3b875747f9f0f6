package dev.tandem.cli.planner;

/**
 * The pool sizes the planner wants now, and why.
 *
 * @param prefill workers wanted in the prefill pool
 * @param decode  workers wanted in the decode pool
 * @param reason  one line: which signal moved which pool, or why nothing changed
 */
public record Decision(int prefill, int decode, String reason) {
    public int replicas(Pool pool) {
        return pool == Pool.PREFILL ? prefill : decode;
    }

    /** True when either pool differs from {@code prefillNow} / {@code decodeNow}. */
    public boolean changes(int prefillNow, int decodeNow) {
        return prefill != prefillNow || decode != decodeNow;
    }
}
