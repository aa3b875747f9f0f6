package dev.tandem.frontend.tools;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Splits one choice's streamed text into content and function calls, in a model family's
 * tool-call syntax ({@link ToolCallFormat}).
 *
 * <h2>Design</h2>
 * A character-level state machine. In text, everything is content except a tail that could
 * still become a start marker ({@code <tool_call>}, {@code [TOOL_CALLS]}, {@code <|python_tag|>};
 * for Llama 3 also a {@code {} opening the reply), which is held. After a marker the parser
 * reads call objects {@code {"name": ..., "arguments" | "parameters": ...}} (for Mistral inside a
 * JSON array, for Llama 3 separated by {@code ;}), keeping their raw text: a call starts (its id
 * and name go out) as soon as its name is read, and the arguments' raw JSON text then goes out as
 * it arrives. Arguments written before the name wait for it.
 *
 * <p>Malformed text: text after a marker that is not a call object, up to the character that
 * broke it, goes out as content (the marker included) and the parser is back in text. Once a
 * call has started it stays a call; if its object breaks off (the token budget ran out), its
 * arguments are what arrived. Whitespace between calls, or around them, is dropped; a reply
 * without calls keeps all its text. Streamed and whole replies go through the same machine, so
 * the deltas of a stream add up to the whole reply's calls.
 *
 * <h2>Invariants</h2>
 * The content released plus the held text plus the raw text of calls equals the input. Call
 * indexes go out in order 0, 1, ...; an index's first delta carries its id and name.
 * <p>
 * Over 500 lines on purpose: one state machine for three families' syntaxes, streamed and whole;
 * its steps share the held text and the call being read, which a split would have to pass around.
 *
 * <h2>Concurrency</h2>
 * Not thread-safe: owned by the request thread that serves one choice.
 */
public final class ToolCallParser {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What one push released. */
    public record Output(String content, List<ToolCallDelta> calls) {
        static final Output EMPTY = new Output("", List.of());

        public boolean isEmpty() {
            return content.isEmpty() && calls.isEmpty();
        }
    }

    private enum Mode {
        TEXT,        // content; markers watched for
        BETWEEN,     // after a marker or a call: whitespace, separators, the next call or the end
        CALL         // inside a call object
    }

    private enum Step {
        OPEN, KEY_OR_END, KEY, COLON, VALUE_START, VALUE, AFTER_VALUE
    }

    private final ToolCallFormat format;
    private final boolean parallel;
    private final Supplier<String> ids;

    private Mode mode = Mode.TEXT;
    /** Content not yet released: a possible marker prefix, or whitespace that may precede a call. */
    private final StringBuilder held = new StringBuilder();
    /** Raw text since the marker, released as content if no call comes of it. */
    private final StringBuilder raw = new StringBuilder();
    private boolean sawNonSpace;
    private boolean inArray;             // Mistral: between [ and ]
    private String endMarker;            // Hermes: </tool_call> expected after the object
    private int endMatched;
    /** Calls read since the last start marker. */
    private int callsSinceMarker;

    // the call object being read
    private Step step;
    private final StringBuilder token = new StringBuilder(); // the key or value being read
    private final ValueScanner value = new ValueScanner();
    private String key;
    private String name;
    private boolean argumentsSeen;
    private final StringBuilder pendingArguments = new StringBuilder();
    private boolean started;
    private int callCount;
    private int keptCount;

    // what the current push releases
    private final StringBuilder outContent = new StringBuilder();
    private final List<ToolCallDelta> outCalls = new ArrayList<>();
    private final StringBuilder outArguments = new StringBuilder();

    /**
     * @param parallel keep every call; false keeps the first and drops the others
     * @param ids      a new call id per call ({@code call_...})
     */
    public ToolCallParser(ToolCallFormat format, boolean parallel, Supplier<String> ids) {
        this.format = format;
        this.parallel = parallel;
        this.ids = ids;
    }

    /** Calls started so far (kept ones). */
    public int callCount() {
        return keptCount;
    }

    /** Adds text and returns what it released. */
    public Output push(String text) {
        for (int i = 0; i < text.length(); i++) {
            accept(text.charAt(i));
        }
        return flush();
    }

    /** The text ended: releases what was held, and ends a call that broke off. */
    public Output finish() {
        switch (mode) {
            case TEXT -> {
                if (keptCount == 0 || !held.toString().isBlank()) {
                    content(held);
                }
                held.setLength(0);
            }
            case BETWEEN -> {
                if (!sawCallSinceMarker()) {
                    content(raw);
                }
                raw.setLength(0);
            }
            case CALL -> {
                if (started) {
                    endCall(); // the arguments are what arrived
                } else {
                    content(raw);
                }
                raw.setLength(0);
            }
        }
        mode = Mode.TEXT;
        return flush();
    }

    // ---- text ----------------------------------------------------------------------------------

    private void accept(char c) {
        switch (mode) {
            case TEXT -> text(c);
            case BETWEEN -> between(c);
            case CALL -> call(c);
        }
    }

    private void text(char c) {
        held.append(c);
        if (format.bareJson() && !sawNonSpace && c == '{') {
            // Llama 3: a reply that opens with an object may be a call
            held.setLength(held.length() - 1);
            String space = held.toString();
            held.setLength(0);
            startMarker(space, null);
            mode = Mode.CALL;
            openCall();
            call(c);
            return;
        }
        if (!Character.isWhitespace(c)) {
            sawNonSpace = true;
        }
        for (String marker : format.startMarkers()) {
            if (endsWith(held, marker)) {
                String before = held.substring(0, held.length() - marker.length());
                String text = before.stripTrailing();
                held.setLength(0);
                if (!text.isEmpty()) {
                    content(text);
                }
                startMarker(before.substring(text.length()), marker); // the space returns if no call follows
                return;
            }
        }
        // release everything but the longest tail that may still become a marker, and trailing
        // whitespace (dropped if a call follows)
        int keep = 0;
        for (String marker : format.startMarkers()) {
            keep = Math.max(keep, partialMarker(held, marker));
        }
        int cut = held.length() - keep;
        int space = cut;
        while (space > 0 && Character.isWhitespace(held.charAt(space - 1))) {
            space--;
        }
        if (space > 0) {
            content(held.substring(0, space));
            held.delete(0, space);
        }
    }

    private void startMarker(String space, String marker) {
        raw.setLength(0);
        raw.append(space);
        if (marker != null) {
            raw.append(marker);
        }
        inArray = false;
        endMarker = null;
        callsSinceMarker = 0;
        mode = Mode.BETWEEN;
    }

    private boolean sawCallSinceMarker() {
        return callsSinceMarker > 0;
    }

    // ---- between calls -------------------------------------------------------------------------

    private void between(char c) {
        raw.append(c);
        if (endMarker != null) {
            // Hermes: whitespace, then </tool_call>
            if (endMatched == 0 && Character.isWhitespace(c)) {
                return;
            }
            if (c == endMarker.charAt(endMatched)) {
                if (++endMatched == endMarker.length()) {
                    endMarker = null;
                    backToText();
                }
                return;
            }
            broken(c);
            return;
        }
        if (Character.isWhitespace(c)) {
            return;
        }
        if (format == ToolCallFormat.MISTRAL && !inArray && callsSinceMarker == 0) {
            if (c == '[') {
                inArray = true;
                return;
            }
            broken(c);
            return;
        }
        if (inArray && callsSinceMarker > 0) {
            if (c == ',') {
                return;
            }
            if (c == ']') {
                inArray = false;
                backToText();
                return;
            }
        }
        if (format == ToolCallFormat.LLAMA3 && callsSinceMarker > 0 && c == ';') {
            return;
        }
        if (c == '{' && (callsSinceMarker == 0 || inArray || format == ToolCallFormat.LLAMA3)) {
            raw.setLength(raw.length() - 1);
            if (callsSinceMarker > 0) {
                raw.setLength(0);
            }
            mode = Mode.CALL;
            openCall();
            call(c);
            return;
        }
        if (callsSinceMarker > 0) {
            // text after the calls: content again
            raw.setLength(0);
            mode = Mode.TEXT;
            held.setLength(0);
            sawNonSpace = true;
            text(c);
            return;
        }
        broken(c);
    }

    /** The text since the marker is not a call: it goes out as content. */
    private void broken(char c) {
        if (callsSinceMarker == 0) {
            content(raw);
        }
        raw.setLength(0);
        mode = Mode.TEXT;
        sawNonSpace = true;
        if (callsSinceMarker > 0) {
            text(c);
        }
    }

    private void backToText() {
        raw.setLength(0);
        mode = Mode.TEXT;
        held.setLength(0);
    }

    // ---- one call object -----------------------------------------------------------------------

    private void openCall() {
        step = Step.OPEN;
        key = null;
        name = null;
        argumentsSeen = false;
        pendingArguments.setLength(0);
        started = false;
        token.setLength(0);
    }

    private void call(char c) {
        raw.append(c);
        switch (step) {
            case OPEN -> {
                if (c == '{') {
                    step = Step.KEY_OR_END;
                } else {
                    callBroken(c);
                }
            }
            case KEY_OR_END -> {
                if (Character.isWhitespace(c)) {
                    return;
                }
                if (c == '"') {
                    token.setLength(0);
                    value.reset();
                    value.push(c);
                    token.append(c);
                    step = Step.KEY;
                } else if (c == '}') {
                    closeCall();
                } else {
                    callBroken(c);
                }
            }
            case KEY -> {
                token.append(c);
                if (value.push(c) == ValueScanner.DONE) {
                    key = decodeString(token.toString());
                    if (key == null) {
                        callBroken(c);
                    } else {
                        step = Step.COLON;
                    }
                }
            }
            case COLON -> {
                if (c == ':') {
                    step = Step.VALUE_START;
                } else if (!Character.isWhitespace(c)) {
                    callBroken(c);
                }
            }
            case VALUE_START -> {
                if (Character.isWhitespace(c)) {
                    return;
                }
                token.setLength(0);
                value.reset();
                step = Step.VALUE;
                valueChar(c);
            }
            case VALUE -> valueChar(c);
            case AFTER_VALUE -> {
                if (c == ',') {
                    step = Step.KEY_OR_END;
                } else if (c == '}') {
                    closeCall();
                } else if (!Character.isWhitespace(c)) {
                    callBroken(c);
                }
            }
        }
    }

    private void valueChar(char c) {
        int r = value.push(c);
        if (r == ValueScanner.ERROR) {
            callBroken(c);
            return;
        }
        if (r == ValueScanner.ENDED_BEFORE) {
            // a number or literal ended at this delimiter, which belongs to the object
            raw.setLength(raw.length() - 1);
            endValue();
            if (mode == Mode.CALL) {
                step = Step.AFTER_VALUE;
            }
            accept(c);
            return;
        }
        token.append(c);
        if (isArgumentsKey(key)) {
            arguments(String.valueOf(c));
        }
        if (r == ValueScanner.DONE) {
            endValue();
            if (mode == Mode.CALL) {
                step = Step.AFTER_VALUE;
            }
        }
    }

    private void endValue() {
        if ("name".equals(key)) {
            JsonNode n = readJson(token.toString());
            if (n == null || !n.isTextual() || name != null) {
                callBroken('\0');
                return;
            }
            name = n.textValue();
            startCall();
        } else if (isArgumentsKey(key)) {
            argumentsSeen = true;
        }
    }

    private void arguments(String s) {
        if (started) {
            if (callCount <= keptLimit()) {
                outArguments.append(s);
            }
        } else {
            pendingArguments.append(s);
        }
    }

    private int keptLimit() {
        return parallel ? Integer.MAX_VALUE : 1;
    }

    private void startCall() {
        started = true;
        callCount++;
        if (callCount <= keptLimit()) {
            flushArguments();
            outCalls.add(new ToolCallDelta(keptCount, ids.get(), name, ""));
            keptCount++;
            outArguments.append(pendingArguments);
        }
        pendingArguments.setLength(0);
    }

    private void closeCall() {
        if (name == null) {
            callBroken('}');
            return;
        }
        if (!argumentsSeen && callCount <= keptLimit()) {
            outArguments.append("{}");
        }
        endCall();
        callsSinceMarker++;
        raw.setLength(0);
        mode = Mode.BETWEEN;
        if (format == ToolCallFormat.HERMES) {
            endMarker = "</tool_call>";
            endMatched = 0;
        }
    }

    private void endCall() {
        flushArguments();
        started = false;
        step = null;
    }

    private void callBroken(char c) {
        if (started) {
            // a started call stays a call; what follows is text
            endCall();
            callsSinceMarker++;
            raw.setLength(0);
            mode = Mode.TEXT;
            held.setLength(0);
            sawNonSpace = true;
            return;
        }
        content(raw);
        raw.setLength(0);
        mode = Mode.TEXT;
        held.setLength(0);
        sawNonSpace = true;
    }

    private boolean isArgumentsKey(String k) {
        return "arguments".equals(k) || "parameters".equals(k);
    }

    // ---- output --------------------------------------------------------------------------------

    private void content(CharSequence s) {
        flushArguments();
        outContent.append(s);
    }

    private void flushArguments() {
        if (outArguments.isEmpty()) {
            return;
        }
        int index = keptCount - 1;
        ToolCallDelta last = outCalls.isEmpty() ? null : outCalls.getLast();
        if (last != null && last.index() == index) {
            outCalls.set(outCalls.size() - 1, new ToolCallDelta(index, last.id(), last.name(),
                    last.arguments() + outArguments));
        } else {
            outCalls.add(new ToolCallDelta(index, null, null, outArguments.toString()));
        }
        outArguments.setLength(0);
    }

    private Output flush() {
        flushArguments();
        if (outContent.isEmpty() && outCalls.isEmpty()) {
            return Output.EMPTY;
        }
        Output o = new Output(outContent.toString(), List.copyOf(outCalls));
        outContent.setLength(0);
        outCalls.clear();
        return o;
    }

    // ---- helpers -------------------------------------------------------------------------------

    private static boolean endsWith(CharSequence s, String suffix) {
        int n = s.length();
        int m = suffix.length();
        if (n < m) {
            return false;
        }
        for (int i = 0; i < m; i++) {
            if (s.charAt(n - m + i) != suffix.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    /** Length of the longest tail of {@code s} that is a proper prefix of {@code marker}. */
    private static int partialMarker(CharSequence s, String marker) {
        for (int k = Math.min(s.length(), marker.length() - 1); k > 0; k--) {
            boolean match = true;
            for (int i = 0; i < k && match; i++) {
                match = s.charAt(s.length() - k + i) == marker.charAt(i);
            }
            if (match) {
                return k;
            }
        }
        return 0;
    }

    private static String decodeString(String quoted) {
        JsonNode n = readJson(quoted);
        return n != null && n.isTextual() ? n.textValue() : null;
    }

    private static JsonNode readJson(String text) {
        try {
            return JSON.readTree(text);
        } catch (JacksonException e) {
            return null;
        }
    }
}
