package dev.tandem.engine.grammar;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A byte-level pushdown automaton for "prefix, one JSON value valid for a schema, suffix".
 *
 * <h2>Design</h2>
 * A configuration ({@link Config}) is an immutable stack of frames, top first: a value about to
 * start ({@link Value}), an object or array in some phase ({@link Obj}, {@link Arr}), a string,
 * number or literal being written ({@link Str}, {@link Num}, {@link Lit}), and at the bottom
 * {@link Done}. When a frame pushes a child it first moves itself to the phase that follows the
 * child, so a finished child is simply popped. A number has no closing byte: the byte after it
 * pops it and is fed to the frame below. {@code anyOf}, a list of types and {@code enum} fork: a
 * {@link State} is the set of live configurations, and a byte maps it to the set of successors.
 * States are values (equals/hashCode) so that token masks can be cached per state.
 *
 * <p>Bytes, not characters: a token may end inside a UTF-8 character; strings check UTF-8 form
 * (lead and continuation bytes) and refuse raw control characters. Whitespace between tokens is
 * allowed but at most {@value #MAX_WHITESPACE} bytes in a row, and none after the value: a
 * small model otherwise pads forever.
 *
 * <p>{@link #minBytesToFinish} is the length of the shortest completion (whitespace aside), which
 * lets the sampler steer a sequence that is running out of tokens into finishing the value.
 *
 * <h2>Invariants</h2>
 * A state holds no dead configuration; the empty state is {@code null}. Property names are
 * generated exactly as declared (JSON-escaped), each at most once; {@code }} only once every
 * required property is present; an array has between minItems and maxItems items.
 *
 * <h2>Size</h2>
 * Over 500 lines on purpose: one frame kind per JSON construct (object, array, string, number,
 * literal, choice) and the byte step over all of them, which must agree with each other; split,
 * each frame's rules would be read apart from the step that composes them.
 *
 * <h2>Concurrency</h2>
 * Immutable values; safe for concurrent use.
 */
final class JsonAutomaton {
    /** Longest run of whitespace bytes between JSON tokens. */
    static final int MAX_WHITESPACE = 16;

    private JsonAutomaton() {
    }

    /** The state before any byte: {@code prefix}, then a value of {@code root}, then {@code suffix}. */
    static State start(SchemaNode root, byte[] prefix, byte[] suffix) {
        Config c = new Config(Done.INSTANCE, null, 0);
        if (suffix.length > 0) {
            c = c.push(new Lit(suffix, 0));
        }
        c = c.push(new Value(root));
        if (prefix.length > 0) {
            c = c.push(new Lit(prefix, 0));
        }
        return new State(new Config[] {c});
    }

    /** The state after byte {@code b} (0..255), or null if no configuration accepts it. */
    static State advance(State s, int b) {
        List<Config> out = new ArrayList<>(2);
        for (Config c : s.configs) {
            step(c, b, out);
        }
        return out.isEmpty() ? null : State.of(out);
    }

    /** The state after {@code bytes[from..to)}, or null. */
    static State advance(State s, byte[] bytes, int from, int to) {
        for (int i = from; i < to && s != null; i++) {
            s = advance(s, bytes[i] & 0xFF);
        }
        return s;
    }

    /** True when the text so far is a complete value (end of generation allowed). */
    static boolean accepting(State s) {
        for (Config c : s.configs) {
            if (accepting(c)) {
                return true;
            }
        }
        return false;
    }

    /** True when the text is complete and no byte may follow. */
    static boolean complete(State s) {
        for (Config c : s.configs) {
            if (!(c.top instanceof Done)) {
                return false;
            }
        }
        return true;
    }

    /** Fewest bytes that complete the text (whitespace not counted). */
    static int minBytesToFinish(State s) {
        long best = SchemaNode.UNBOUNDED;
        for (Config c : s.configs) {
            long sum = 0;
            for (Config k = c; k != null; k = k.below) {
                sum += cost(k.top);
            }
            best = Math.min(best, sum);
        }
        return (int) Math.min(best, SchemaNode.UNBOUNDED);
    }

    private static boolean accepting(Config c) {
        while (c.top instanceof Num n && n.phase.accepting) {
            c = c.below;
        }
        return c.top instanceof Done;
    }

    private static boolean whitespace(int b) {
        return b == ' ' || b == '\n' || b == '\t' || b == '\r';
    }

    // ------------------------------------------------------------------ one byte

    private static void step(Config c, int b, List<Config> out) {
        switch (c.top) {
            case Done d -> {
            }
            case Lit l -> {
                if ((l.bytes[l.pos] & 0xFF) == b) {
                    out.add(l.pos + 1 == l.bytes.length ? c.below.reset() : c.below.push(new Lit(l.bytes, l.pos + 1)));
                }
            }
            case Value v -> {
                if (whitespace(b)) {
                    whitespace(c, out);
                } else {
                    startValue(v.node, c.below, b, out);
                }
            }
            case Str s -> stepString(c, s, b, out);
            case Num n -> stepNumber(c, n, b, out);
            case Obj o -> stepObject(c, o, b, out);
            case Arr a -> stepArray(c, a, b, out);
        }
    }

    private static void whitespace(Config c, List<Config> out) {
        if (c.ws < MAX_WHITESPACE) {
            out.add(new Config(c.top, c.below, c.ws + 1));
        }
    }

    /** The first byte {@code b} of a value of {@code node}, whose frame sits on {@code below}. */
    private static void startValue(SchemaNode node, Config below, int b, List<Config> out) {
        switch (node.kind) {
            case ANY_OF -> {
                for (SchemaNode o : node.options) {
                    startValue(o, below, b, out);
                }
            }
            case LITERALS -> {
                for (byte[] lit : node.literals) {
                    if ((lit[0] & 0xFF) == b) {
                        out.add(lit.length == 1 ? below.reset() : below.push(new Lit(lit, 1)));
                    }
                }
            }
            case ANY -> {
                switch (b) {
                    case '{' -> startValue(SchemaNode.ANY_OBJECT, below, b, out);
                    case '[' -> startValue(SchemaNode.ANY_ARRAY, below, b, out);
                    case '"' -> out.add(below.push(Str.NORMAL));
                    case 't' -> out.add(below.push(new Lit(Lit.TRUE, 1)));
                    case 'f' -> out.add(below.push(new Lit(Lit.FALSE, 1)));
                    case 'n' -> out.add(below.push(new Lit(Lit.NULL, 1)));
                    default -> startNumber(false, below, b, out);
                }
            }
            case OBJECT -> {
                if (b == '{') {
                    out.add(below.push(new Obj(node, Obj.OPEN, 0L, 0, -1)));
                }
            }
            case ARRAY -> {
                if (b == '[') {
                    out.add(below.push(new Arr(node, Arr.OPEN, 0)));
                }
            }
            case STRING -> {
                if (b == '"') {
                    out.add(below.push(Str.NORMAL));
                }
            }
            case NUMBER -> startNumber(false, below, b, out);
            case INTEGER -> startNumber(true, below, b, out);
            case BOOLEAN -> {
                if (b == 't') {
                    out.add(below.push(new Lit(Lit.TRUE, 1)));
                } else if (b == 'f') {
                    out.add(below.push(new Lit(Lit.FALSE, 1)));
                }
            }
            case NULL -> {
                if (b == 'n') {
                    out.add(below.push(new Lit(Lit.NULL, 1)));
                }
            }
        }
    }

    private static void startNumber(boolean integer, Config below, int b, List<Config> out) {
        if (b == '-') {
            out.add(below.push(new Num(integer, NumPhase.MINUS)));
        } else if (b == '0') {
            out.add(below.push(new Num(integer, NumPhase.ZERO)));
        } else if (b >= '1' && b <= '9') {
            out.add(below.push(new Num(integer, NumPhase.INT)));
        }
    }

    private static void stepString(Config c, Str s, int b, List<Config> out) {
        int mode = s.mode;
        Str next = null;
        if (mode == Str.MODE_NORMAL) {
            if (b == '"') {
                out.add(c.below.reset());
                return;
            }
            if (b == '\\') {
                next = Str.ESCAPE;
            } else if (b < 0x20) {
                return;
            } else if (b < 0x80) {
                next = Str.NORMAL;
            } else if (b >= 0xC2 && b <= 0xDF) {
                next = Str.utf8(1);
            } else if (b >= 0xE0 && b <= 0xEF) {
                next = Str.utf8(2);
            } else if (b >= 0xF0 && b <= 0xF4) {
                next = Str.utf8(3);
            } else {
                return;
            }
        } else if (mode == Str.MODE_ESCAPE) {
            if (b == 'u') {
                next = Str.hex(4);
            } else if ("\"\\/bfnrt".indexOf(b) >= 0) {
                next = Str.NORMAL;
            } else {
                return;
            }
        } else if (mode >= Str.MODE_HEX && mode < Str.MODE_HEX + 4) {
            boolean hex = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
            if (!hex) {
                return;
            }
            int left = mode - Str.MODE_HEX;
            next = left == 0 ? Str.NORMAL : Str.hex(left);
        } else {
            if (b < 0x80 || b > 0xBF) {
                return;
            }
            int left = mode - Str.MODE_UTF8;
            next = left == 0 ? Str.NORMAL : Str.utf8(left);
        }
        out.add(c.below.push(next));
    }

    private static void stepNumber(Config c, Num n, int b, List<Config> out) {
        boolean digit = b >= '0' && b <= '9';
        NumPhase next = switch (n.phase) {
            case MINUS -> b == '0' ? NumPhase.ZERO : digit ? NumPhase.INT : null;
            case ZERO -> fractionOrExponent(n.integer, b);
            case INT -> digit ? NumPhase.INT : fractionOrExponent(n.integer, b);
            case DOT -> digit ? NumPhase.FRAC : null;
            case FRAC -> digit ? NumPhase.FRAC : (b == 'e' || b == 'E') ? NumPhase.E : null;
            case E -> (b == '+' || b == '-') ? NumPhase.E_SIGN : digit ? NumPhase.EXP : null;
            case E_SIGN, EXP -> digit ? NumPhase.EXP : null;
        };
        if (next != null) {
            out.add(c.below.push(new Num(n.integer, next)));
        } else if (n.phase.accepting) {
            step(c.below.reset(), b, out); // the number ended; the byte belongs to what follows
        }
    }

    private static NumPhase fractionOrExponent(boolean integer, int b) {
        if (integer) {
            return null;
        }
        return b == '.' ? NumPhase.DOT : (b == 'e' || b == 'E') ? NumPhase.E : null;
    }

    private static void stepObject(Config c, Obj o, int b, List<Config> out) {
        SchemaNode n = o.node;
        switch (o.phase) {
            case Obj.OPEN, Obj.COMMA -> {
                if (whitespace(b)) {
                    whitespace(c, out);
                } else if (b == '"') {
                    if (n.freeKeys()) {
                        out.add(c.below.push(new Obj(n, Obj.COLON, o.seen, 0, -1)).push(Str.NORMAL));
                    } else if (hasUnseen(n, o.seen)) {
                        out.add(c.below.push(new Obj(n, Obj.KEY, o.seen, 0, -1)));
                    }
                } else if (b == '}' && o.phase == Obj.OPEN && (n.requiredMask & ~o.seen) == 0) {
                    out.add(c.below.reset());
                }
            }
            case Obj.KEY -> {
                byte[] prefix = o.prop < 0 ? null : n.names[o.prop];
                for (int i = 0; i < n.names.length; i++) {
                    byte[] name = n.names[i];
                    if ((o.seen & (1L << i)) != 0 || !startsWith(name, prefix, o.keyBytes)) {
                        continue;
                    }
                    if (b == '"' && name.length == o.keyBytes) {
                        out.add(c.below.push(new Obj(n, Obj.COLON, o.seen, 0, i)));
                        return;
                    }
                    if (name.length > o.keyBytes && (name[o.keyBytes] & 0xFF) == b) {
                        out.add(c.below.push(new Obj(n, Obj.KEY, o.seen, o.keyBytes + 1, i)));
                        return; // names are distinct and sorted: the first match names the prefix
                    }
                }
            }
            case Obj.COLON -> {
                if (whitespace(b)) {
                    whitespace(c, out);
                } else if (b == ':') {
                    long seen = o.prop < 0 ? o.seen : o.seen | (1L << o.prop);
                    SchemaNode value = o.prop < 0 ? n.additional : n.props[o.prop];
                    out.add(c.below.push(new Obj(n, Obj.NEXT, seen, 0, -1)).push(new Value(value)));
                }
            }
            case Obj.NEXT -> {
                if (whitespace(b)) {
                    whitespace(c, out);
                } else if (b == ',' && (n.freeKeys() || hasUnseen(n, o.seen))) {
                    out.add(c.below.push(new Obj(n, Obj.COMMA, o.seen, 0, -1)));
                } else if (b == '}' && (n.requiredMask & ~o.seen) == 0) {
                    out.add(c.below.reset());
                }
            }
            default -> throw new IllegalStateException("object phase " + o.phase);
        }
    }

    private static boolean hasUnseen(SchemaNode n, long seen) {
        return Long.bitCount(seen) < n.names.length;
    }

    private static boolean startsWith(byte[] name, byte[] prefix, int length) {
        if (length == 0) {
            return true;
        }
        return name.length >= length && Arrays.equals(name, 0, length, prefix, 0, length);
    }

    private static void stepArray(Config c, Arr a, int b, List<Config> out) {
        SchemaNode n = a.node;
        if (whitespace(b)) {
            whitespace(c, out);
            return;
        }
        int cap = n.maxItems >= 0 ? n.maxItems : n.minItems;
        switch (a.phase) {
            case Arr.OPEN, Arr.COMMA -> {
                if (b == ']' && a.phase == Arr.OPEN && n.minItems == 0) {
                    out.add(c.below.reset());
                } else if (n.maxItems != 0) {
                    Config after = c.below.push(new Arr(n, Arr.NEXT, Math.min(a.count + 1, Math.max(cap, 1))));
                    startValue(n.items, after, b, out);
                }
            }
            case Arr.NEXT -> {
                if (b == ',' && (n.maxItems < 0 || a.count < n.maxItems)) {
                    out.add(c.below.push(new Arr(n, Arr.COMMA, a.count)));
                } else if (b == ']' && a.count >= n.minItems) {
                    out.add(c.below.reset());
                }
            }
            default -> throw new IllegalStateException("array phase " + a.phase);
        }
    }

    // ------------------------------------------------------------------ shortest completion

    private static long cost(Frame f) {
        return switch (f) {
            case Done d -> 0;
            case Lit l -> l.bytes.length - l.pos;
            case Value v -> v.node.minBytes;
            case Str s -> s.mode == Str.MODE_NORMAL ? 1 : s.mode == Str.MODE_ESCAPE ? 2
                    : s.mode >= Str.MODE_UTF8 ? s.mode - Str.MODE_UTF8 + 2 : s.mode - Str.MODE_HEX + 2;
            case Num n -> n.phase.accepting ? 0 : n.phase == NumPhase.E ? 1 : 1;
            case Obj o -> objectCost(o);
            case Arr a -> arrayCost(a);
        };
    }

    private static long objectCost(Obj o) {
        SchemaNode n = o.node;
        return switch (o.phase) {
            case Obj.OPEN -> {
                int k = Long.bitCount(n.requiredMask & ~o.seen);
                yield requiredCost(n, o.seen) + Math.max(0, k - 1) + 1;
            }
            case Obj.NEXT -> requiredCost(n, o.seen) + Long.bitCount(n.requiredMask & ~o.seen) + 1;
            case Obj.COMMA -> {
                int k = Long.bitCount(n.requiredMask & ~o.seen);
                if (k > 0) {
                    yield requiredCost(n, o.seen) + k - 1 + 1;
                }
                long best = n.freeKeys() ? n.freeEntryBytes() : SchemaNode.UNBOUNDED;
                for (int i = 0; i < n.names.length; i++) {
                    if ((o.seen & (1L << i)) == 0) {
                        best = Math.min(best, n.entryBytes(i));
                    }
                }
                yield best + 1;
            }
            case Obj.KEY -> {
                long best = SchemaNode.UNBOUNDED;
                byte[] prefix = o.prop < 0 ? null : n.names[o.prop];
                for (int i = 0; i < n.names.length; i++) {
                    if ((o.seen & (1L << i)) == 0 && startsWith(n.names[i], prefix, o.keyBytes)) {
                        long seen = o.seen | (1L << i);
                        long rest = requiredCost(n, seen) + Long.bitCount(n.requiredMask & ~seen) + 1;
                        best = Math.min(best, n.names[i].length - o.keyBytes + 2L + n.props[i].minBytes + rest);
                    }
                }
                yield best;
            }
            case Obj.COLON -> {
                if (o.prop < 0) {
                    yield 1 + n.additional.minBytes + 1;
                }
                long seen = o.seen | (1L << o.prop);
                yield 1 + n.props[o.prop].minBytes + requiredCost(n, seen) + Long.bitCount(n.requiredMask & ~seen) + 1;
            }
            default -> throw new IllegalStateException("object phase " + o.phase);
        };
    }

    private static long requiredCost(SchemaNode n, long seen) {
        long sum = 0;
        long left = n.requiredMask & ~seen;
        while (left != 0) {
            int i = Long.numberOfTrailingZeros(left);
            sum += n.entryBytes(i);
            left &= left - 1;
        }
        return sum;
    }

    private static long arrayCost(Arr a) {
        SchemaNode n = a.node;
        long item = n.items.minBytes;
        return switch (a.phase) {
            case Arr.OPEN -> n.minItems == 0 ? 1 : n.minItems * item + n.minItems - 1 + 1;
            case Arr.NEXT -> Math.max(0, n.minItems - a.count) * (item + 1) + 1;
            case Arr.COMMA -> {
                long k = Math.max(1, n.minItems - a.count);
                yield k * item + k - 1 + 1;
            }
            default -> throw new IllegalStateException("array phase " + a.phase);
        };
    }

    // ------------------------------------------------------------------ values

    /** A set of live configurations; a value. */
    static final class State {
        final Config[] configs;
        private final int hash;

        private State(Config[] configs) {
            this.configs = configs;
            int h = 0;
            for (Config c : configs) {
                h += c.hash; // order-independent
            }
            this.hash = h;
        }

        static State of(List<Config> list) {
            if (list.size() == 1) {
                return new State(new Config[] {list.getFirst()});
            }
            List<Config> distinct = new ArrayList<>(list.size());
            for (Config c : list) {
                if (!distinct.contains(c)) {
                    distinct.add(c);
                }
            }
            return new State(distinct.toArray(new Config[0]));
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof State s) || s.hash != hash || s.configs.length != configs.length) {
                return false;
            }
            for (Config c : configs) {
                if (!Arrays.asList(s.configs).contains(c)) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /** A stack of frames, top first, with the length of the current whitespace run. */
    static final class Config {
        final Frame top;
        final Config below;
        final int ws;
        private final int hash;

        Config(Frame top, Config below, int ws) {
            this.top = top;
            this.below = below;
            this.ws = ws;
            this.hash = 31 * (31 * top.hashCode() + (below == null ? 0 : below.hash)) + ws;
        }

        Config push(Frame f) {
            return new Config(f, this, 0);
        }

        /** This configuration with the whitespace run ended. */
        Config reset() {
            return ws == 0 ? this : new Config(top, below, 0);
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) {
                return true;
            }
            if (!(o instanceof Config c) || c.hash != hash || c.ws != ws || !c.top.equals(top)) {
                return false;
            }
            return below == null ? c.below == null : below.equals(c.below);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    sealed interface Frame permits Done, Lit, Value, Str, Num, Obj, Arr {
    }

    /** The value and its suffix are written. */
    enum Done implements Frame { INSTANCE }

    /** A value of {@code node} starts here (after optional whitespace). */
    record Value(SchemaNode node) implements Frame {
    }

    /** {@code bytes[pos..]} must follow exactly. Equality is by the identity of {@code bytes} (shared). */
    static final class Lit implements Frame {
        static final byte[] TRUE = {'t', 'r', 'u', 'e'};
        static final byte[] FALSE = {'f', 'a', 'l', 's', 'e'};
        static final byte[] NULL = {'n', 'u', 'l', 'l'};
        final byte[] bytes;
        final int pos;

        Lit(byte[] bytes, int pos) {
            this.bytes = bytes;
            this.pos = pos;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Lit l && l.bytes == bytes && l.pos == pos;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(bytes) * 31 + pos;
        }
    }

    /**
     * Inside a string. {@code mode}: {@link #MODE_NORMAL}, {@link #MODE_ESCAPE} (after a
     * backslash), {@code MODE_HEX + n} (n + 1 hex digits of a backslash-u escape to come),
     * {@code MODE_UTF8 + n} (n + 1 UTF-8 continuation bytes to come).
     */
    record Str(int mode) implements Frame {
        static final int MODE_NORMAL = 0;
        static final int MODE_ESCAPE = 1;
        /** MODE_HEX + n: n more hex digits after the next one */
        static final int MODE_HEX = 2;
        /** MODE_UTF8 + n: n more continuation bytes after the next one */
        static final int MODE_UTF8 = 6;
        static final Str NORMAL = new Str(MODE_NORMAL);
        static final Str ESCAPE = new Str(MODE_ESCAPE);

        /** Waiting for {@code left} (1..4) hex digits. */
        static Str hex(int left) {
            return new Str(MODE_HEX + left - 1);
        }

        /** Waiting for {@code left} (1..3) continuation bytes. */
        static Str utf8(int left) {
            return new Str(MODE_UTF8 + left - 1);
        }
    }

    enum NumPhase {
        MINUS(false), ZERO(true), INT(true), DOT(false), FRAC(true), E(false), E_SIGN(false), EXP(true);

        final boolean accepting;

        NumPhase(boolean accepting) {
            this.accepting = accepting;
        }
    }

    /** Inside a number; {@code integer}: no fraction or exponent. */
    record Num(boolean integer, NumPhase phase) implements Frame {
    }

    /**
     * Inside an object. Phases: OPEN after {@code {}; KEY inside a declared key, {@code keyBytes}
     * written, all of them a prefix of {@code names[prop]}; COLON after a key ({@code prop}, or -1
     * for a free key); NEXT after a value; COMMA after a comma. {@code seen}: bit i set once
     * property i has a value.
     */
    record Obj(SchemaNode node, int phase, long seen, int keyBytes, int prop) implements Frame {
        static final int OPEN = 0;
        static final int KEY = 1;
        static final int COLON = 2;
        static final int NEXT = 3;
        static final int COMMA = 4;
    }

    /** Inside an array: OPEN after {@code [}, NEXT after an item, COMMA after a comma; {@code count} items (capped). */
    record Arr(SchemaNode node, int phase, int count) implements Frame {
        static final int OPEN = 0;
        static final int NEXT = 1;
        static final int COMMA = 2;
    }
}
