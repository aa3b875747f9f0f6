package dev.tandem.frontend.text;

import java.util.List;

/**
 * Finds stop strings in streamed text, including ones that span token boundaries.
 *
 * <h2>Design</h2>
 * Text arrives in pieces. Everything that cannot be the start of a stop string is released at
 * once; only the longest tail of the pending text that is a proper prefix of some stop string is
 * held back (so with stop {@code "\n\n"} a single trailing newline waits, and nothing else does).
 * When a stop string completes, the text before it is released, the stop text and everything
 * after are dropped, and the matcher reports {@link #stopped()}. If two stop strings appear, the
 * one that completes first wins (as generation would have stopped there).
 *
 * <h2>Invariants</h2>
 * The held-back text is always shorter than the longest stop string and never contains a whole
 * stop string. The concatenation of everything released equals the input up to the start of the
 * first-completed stop occurrence (or all of it, after {@link #finish()}), however it was split.
 *
 * <h2>Concurrency</h2>
 * Not thread-safe: owned by the request thread that serves one choice.
 */
public final class StopMatcher {
    private final List<String> stops;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;
    private String matchedStop;

    /** @param stops stop strings, none empty; may be an empty list */
    public StopMatcher(List<String> stops) {
        for (String s : stops) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("empty stop string");
            }
        }
        this.stops = List.copyOf(stops);
    }

    /** Adds text and returns what may be emitted now (possibly empty). Returns "" once stopped. */
    public String push(String text) {
        if (stopped) {
            return "";
        }
        if (stops.isEmpty()) {
            return text;
        }
        held.append(text);
        int stopAt = earliestStop();
        if (stopAt >= 0) {
            stopped = true;
            String out = held.substring(0, stopAt);
            held.setLength(0);
            return out;
        }
        int keep = heldBackLength();
        String out = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return out;
    }

    /** Ends the stream: releases the held-back text (no stop string completed). */
    public String finish() {
        String out = held.toString();
        held.setLength(0);
        return out;
    }

    /** True once a stop string was seen. */
    public boolean stopped() {
        return stopped;
    }

    /** The stop string that ended the text, or null. */
    public String matchedStop() {
        return matchedStop;
    }

    /** Number of characters currently held back. */
    public int heldBackChars() {
        return held.length();
    }

    /**
     * Start of the stop occurrence that completes first (smallest end; on a tie the longer one),
     * or -1. Choosing by end makes the result independent of how the text was split: generation
     * stops as soon as any stop string has appeared.
     */
    private int earliestStop() {
        int bestStart = -1;
        int bestEnd = Integer.MAX_VALUE;
        for (String s : stops) {
            int at = held.indexOf(s);
            if (at < 0) {
                continue;
            }
            int end = at + s.length();
            if (end < bestEnd || (end == bestEnd && at < bestStart)) {
                bestStart = at;
                bestEnd = end;
                matchedStop = s;
            }
        }
        return bestStart;
    }

    /** Length of the longest suffix of {@code held} that is a proper prefix of a stop string. */
    private int heldBackLength() {
        int longest = 0;
        for (String s : stops) {
            int max = Math.min(s.length() - 1, held.length());
            for (int len = max; len > longest; len--) {
                if (regionMatchesSuffix(s, len)) {
                    longest = len;
                    break;
                }
            }
        }
        return longest;
    }

    private boolean regionMatchesSuffix(String stop, int len) {
        int start = held.length() - len;
        for (int i = 0; i < len; i++) {
            if (held.charAt(start + i) != stop.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
