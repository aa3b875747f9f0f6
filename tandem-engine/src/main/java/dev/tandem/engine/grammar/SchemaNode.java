package dev.tandem.engine.grammar;

/**
 * One node of a compiled JSON Schema: what a JSON value at this place may be. Nodes form a graph
 * ({@code $ref} may be recursive), so equality is identity; automaton frames hold them.
 *
 * <p>Immutable once {@link SchemaCompiler} has filled it in; safe for concurrent use.
 */
final class SchemaNode {
    /** What the node accepts. */
    enum Kind {
        /** any JSON value */
        ANY,
        /** an object: declared properties only, or (none declared) free keys with {@link #additional} values */
        OBJECT,
        ARRAY,
        STRING,
        NUMBER,
        INTEGER,
        BOOLEAN,
        NULL,
        /** one of {@link #literals}, byte for byte ({@code enum}, {@code const}) */
        LITERALS,
        /** any of {@link #options} ({@code anyOf}, a list of types) */
        ANY_OF
    }

    /** Cost of a value that cannot be finished (a cycle of required references), in bytes. */
    static final int UNBOUNDED = 1 << 20;

    Kind kind;
    // OBJECT: names sorted, as their JSON-escaped UTF-8 bytes without quotes; props[i] is the value of names[i]
    byte[][] names = new byte[0][];
    SchemaNode[] props = new SchemaNode[0];
    long requiredMask;
    /** value schema of keys not declared; null: no other keys */
    SchemaNode additional;
    // ARRAY
    SchemaNode items;
    int minItems;
    /** -1: unbounded */
    int maxItems = -1;
    // LITERALS: canonical JSON text of each allowed value, UTF-8
    byte[][] literals;
    // ANY_OF
    SchemaNode[] options;
    /** Fewest bytes of a value valid here; set by {@link SchemaCompiler}. */
    int minBytes = -1;

    SchemaNode(Kind kind) {
        this.kind = kind;
    }

    /** Any JSON value. */
    static final SchemaNode ANY = new SchemaNode(Kind.ANY);
    /** Any JSON object (JSON mode, and the objects inside {@link #ANY}). */
    static final SchemaNode ANY_OBJECT = new SchemaNode(Kind.OBJECT);
    /** Any JSON array. */
    static final SchemaNode ANY_ARRAY = new SchemaNode(Kind.ARRAY);

    static {
        ANY.minBytes = 1;
        ANY_OBJECT.additional = ANY;
        ANY_OBJECT.minBytes = 2;
        ANY_ARRAY.items = ANY;
        ANY_ARRAY.minBytes = 2;
    }

    /** Bytes of an object entry {@code "name":value} at its shortest. */
    int entryBytes(int prop) {
        return names[prop].length + 3 + props[prop].minBytes;
    }

    /** Shortest entry of a key not declared. */
    int freeEntryBytes() {
        return 2 + 1 + additional.minBytes;
    }

    boolean freeKeys() {
        return names.length == 0 && additional != null;
    }
}
