package dev.tandem.bench;

import java.util.List;

/**
 * What a benchmark sends: a list of {@link Session}s, a pure function of the workload's settings
 * (including its seed), so two runs with the same settings send the same prompts.
 */
public sealed interface Workload
        permits ConversationWorkload, SharedPrefixWorkload, TraceWorkload, RandomWorkload {

    /** {@code conversations}, {@code shared-prefix}, {@code trace} or {@code random}. */
    String name();

    /** One line for reports: the workload and its settings. */
    String describe();

    /** The sessions, in the order they are offered to the arrival scheduler. */
    List<Session> sessions();

    /** The seed the prompts are made from. */
    long seed();

    /** The same workload with another seed (a sweep uses seed + run index so runs don't share a cache). */
    Workload withSeed(long seed);

    /** True when sessions carry arrival timestamps (a trace). */
    default boolean timed() {
        return false;
    }
}
