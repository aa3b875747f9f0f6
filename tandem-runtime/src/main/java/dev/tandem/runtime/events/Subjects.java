package dev.tandem.runtime.events;

import dev.tandem.core.WorkerRecord;

/**
 * Event-plane subject names:
 * <pre>
 * tandem.{namespace}.kv.{workerId}     KV event batches of one worker   (EventCodec KV_EVENTS)
 * tandem.{namespace}.load.{workerId}   load reports of one worker       (EventCodec LOAD)
 * </pre>
 * Namespaces and worker ids are restricted to letters, digits, '_' and '-'
 * ({@link WorkerRecord#ID_PATTERN}), so they are always single subject tokens.
 */
public final class Subjects {
    private Subjects() {
    }

    public static String kv(String namespace, String workerId) {
        return "tandem." + check(namespace) + ".kv." + check(workerId);
    }

    public static String load(String namespace, String workerId) {
        return "tandem." + check(namespace) + ".load." + check(workerId);
    }

    /** Every worker's KV events in a namespace. */
    public static String allKv(String namespace) {
        return "tandem." + check(namespace) + ".kv.*";
    }

    /** Every worker's load reports in a namespace. */
    public static String allLoad(String namespace) {
        return "tandem." + check(namespace) + ".load.*";
    }

    /** The last token of a subject (the worker id of a kv/load subject). */
    public static String lastToken(String subject) {
        return subject.substring(subject.lastIndexOf('.') + 1);
    }

    /**
     * NATS matching: tokens split on '.', {@code *} matches exactly one token, a final {@code >}
     * matches one or more tokens.
     */
    public static boolean matches(String pattern, String subject) {
        String[] p = pattern.split("\\.", -1);
        String[] s = subject.split("\\.", -1);
        for (int i = 0; i < p.length; i++) {
            if (p[i].equals(">") && i == p.length - 1) {
                return s.length > i;
            }
            if (i >= s.length || !(p[i].equals("*") || p[i].equals(s[i]))) {
                return false;
            }
        }
        return p.length == s.length;
    }

    /** Throws IllegalArgumentException unless {@code subject} is a valid literal subject. */
    static void checkLiteral(String subject) {
        checkPattern(subject);
        for (String t : subject.split("\\.", -1)) {
            if (t.equals("*") || t.equals(">")) {
                throw new IllegalArgumentException("cannot publish to wildcard subject '" + subject + "'");
            }
        }
    }

    /** Throws IllegalArgumentException unless {@code pattern} is a valid subject or wildcard pattern. */
    static void checkPattern(String pattern) {
        if (pattern == null || pattern.isEmpty()) {
            throw new IllegalArgumentException("subject is empty");
        }
        String[] tokens = pattern.split("\\.", -1);
        for (int i = 0; i < tokens.length; i++) {
            String t = tokens[i];
            if (t.isEmpty() || t.chars().anyMatch(c -> c <= ' ')) {
                throw new IllegalArgumentException("subject '" + pattern + "' has an empty token or whitespace");
            }
            if (t.equals(">") && i != tokens.length - 1) {
                throw new IllegalArgumentException("subject '" + pattern + "': '>' must be the last token");
            }
        }
    }

    private static String check(String token) {
        if (token == null || !WorkerRecord.ID_PATTERN.matcher(token).matches()) {
            throw new IllegalArgumentException("subject token '" + token + "' must be 1..128 letters, digits, '_' or '-'");
        }
        return token;
    }
}
