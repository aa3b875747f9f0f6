package dev.tandem.frontend.tools;

/**
 * Finds where one JSON value ends in text that arrives a character at a time: strings (with
 * escapes), objects and arrays (by bracket depth, strings inside skipped), and numbers and
 * literals (ended by the first character that cannot continue them). It does not check the
 * value; whoever needs it parses the text it delimited.
 *
 * <p>Not thread-safe; reset before each value.
 */
final class ValueScanner {
    /** The character belongs to the value, which goes on. */
    static final int MORE = 0;
    /** The character ends the value (a closing quote or bracket). */
    static final int DONE = 1;
    /** The value (a number or literal) ended before this character, which is not part of it. */
    static final int ENDED_BEFORE = 2;
    /** No JSON value starts with this character. */
    static final int ERROR = 3;

    private boolean begun;
    private boolean scalar;
    private int depth;
    private boolean inString;
    private boolean escaped;

    void reset() {
        begun = false;
        scalar = false;
        depth = 0;
        inString = false;
        escaped = false;
    }

    int push(char c) {
        if (!begun) {
            begun = true;
            if (c == '"') {
                inString = true;
                return MORE;
            }
            if (c == '{' || c == '[') {
                depth = 1;
                return MORE;
            }
            if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
                scalar = true;
                return MORE;
            }
            return ERROR;
        }
        if (scalar) {
            boolean part = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '+' || c == '-'
                    || c == 'E';
            return part ? MORE : ENDED_BEFORE;
        }
        if (inString) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                inString = false;
                return depth == 0 ? DONE : MORE;
            }
            return MORE;
        }
        switch (c) {
            case '"' -> inString = true;
            case '{', '[' -> depth++;
            case '}', ']' -> {
                if (--depth == 0) {
                    return DONE;
                }
            }
            default -> {
            }
        }
        return MORE;
    }
}
