package dev.tandem.frontend.text;

import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * The token ids the server generated for its recent replies, by reply text, so that a follow-up
 * turn that sends a reply back as an assistant message is tokenized as it was generated.
 *
 * <h2>Why</h2>
 * A reply generated as {@code " p" "ar" "k"} re-tokenizes as {@code " park"}: the text is the same,
 * the ids are not, and the engine's prefix cache (keyed by ids) misses every block from there on.
 * With the generated ids spliced into the next prompt, the engine finds the previous turn's prompt
 * and reply in its cache, token for token.
 *
 * <h2>Bounds</h2>
 * Entries live at most {@code ttlNanos} and together hold at most {@code maxTokens} ids (plus
 * their texts); the least recently used go first. A reply longer than {@code maxTokens / 8} ids
 * is not kept. A text is looked up by equality (a hash map of the whole text), so a hit is always
 * the reply whose text this is; two replies with the same text keep the later ids.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use: one lock around a small map, held for a lookup or an insertion.
 */
public final class ReplyMemory {
    /** Default bound: one million ids (4 MB of ids, plus the texts). */
    public static final int DEFAULT_MAX_TOKENS = 1 << 20;
    /** Default time to live: ten minutes. */
    public static final long DEFAULT_TTL_NANOS = 600_000_000_000L;

    private record Entry(int[] ids, long storedNanos) {
    }

    private final int maxTokens;
    private final long ttlNanos;
    private final LongSupplier clock;
    private final LinkedHashMap<String, Entry> entries = new LinkedHashMap<>(64, 0.75f, true);
    private long heldTokens;
    private long hits;
    private long misses;

    /**
     * @param maxTokens most ids held in all, &gt;= 0 (0 keeps nothing)
     * @param ttlNanos  how long an entry is kept, &gt; 0
     * @param clock     nanosecond time source
     */
    public ReplyMemory(int maxTokens, long ttlNanos, LongSupplier clock) {
        if (maxTokens < 0 || ttlNanos <= 0) {
            throw new IllegalArgumentException("maxTokens must be >= 0 and ttlNanos > 0");
        }
        this.maxTokens = maxTokens;
        this.ttlNanos = ttlNanos;
        this.clock = clock;
    }

    /** A memory with the default bounds on {@link System#nanoTime}. */
    public static ReplyMemory withDefaults() {
        return new ReplyMemory(DEFAULT_MAX_TOKENS, DEFAULT_TTL_NANOS, System::nanoTime);
    }

    /** Remembers that {@code text} was generated as {@code ids}. Empty texts and long replies are skipped. */
    public void remember(String text, int[] ids) {
        if (text.isEmpty() || ids.length == 0 || ids.length > maxTokens / 8) {
            return;
        }
        long now = clock.getAsLong();
        synchronized (entries) {
            Entry old = entries.put(text, new Entry(ids.clone(), now));
            if (old != null) {
                heldTokens -= old.ids.length;
            }
            heldTokens += ids.length;
            evict(now);
        }
    }

    /** The ids {@code text} was generated as, or null if unknown or expired. */
    public int[] lookup(String text) {
        if (text == null || text.isEmpty()) {
            return null;
        }
        long now = clock.getAsLong();
        synchronized (entries) {
            Entry e = entries.get(text);
            if (e == null || now - e.storedNanos > ttlNanos) {
                misses++;
                return null;
            }
            hits++;
            return Arrays.copyOf(e.ids, e.ids.length);
        }
    }

    private void evict(long now) {
        Iterator<Map.Entry<String, Entry>> it = entries.entrySet().iterator();
        while (it.hasNext()) {
            Entry e = it.next().getValue();
            if (heldTokens <= maxTokens && now - e.storedNanos <= ttlNanos) {
                break; // least recently used first: the rest is within bounds once this one is
            }
            heldTokens -= e.ids.length;
            it.remove();
        }
    }

    /** Replies held now. */
    public int size() {
        synchronized (entries) {
            return entries.size();
        }
    }

    /** Ids held now. */
    public long heldTokens() {
        synchronized (entries) {
            return heldTokens;
        }
    }

    /** Assistant messages whose ids were found. */
    public long hits() {
        synchronized (entries) {
            return hits;
        }
    }

    /** Assistant messages looked up and not found. */
    public long misses() {
        synchronized (entries) {
            return misses;
        }
    }
}
