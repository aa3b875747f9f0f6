package dev.tandem.frontend;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.Usage;
import dev.tandem.frontend.text.StopMatcher;
import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.frontend.text.TextModel;
import dev.tandem.frontend.tools.ToolCallDelta;
import dev.tandem.frontend.tools.ToolCallFormat;
import dev.tandem.frontend.tools.ToolCallParser;
import java.util.ArrayList;
import java.util.List;

/**
 * The output side of one choice: token bytes to whole characters, stop strings, function calls
 * (when the request has tools: {@link ToolCallParser} splits the text after stop strings into
 * content and calls), token counting and logprobs, in arrival order.
 *
 * <p>Owned by the request thread; the engine thread never touches it (it only queues events).
 */
final class ChoiceState {
    private final int index;
    private final TextModel.TokenDecoder decoder;
    private final StopMatcher stops;
    private final boolean logprobs;
    /** The whole text, kept for non-streamed responses only. */
    private final StringBuilder fullText;
    private final List<GeneratedToken> allTokens = new ArrayList<>();
    private final List<Integer> allOffsets = new ArrayList<>();

    private int completionTokens;
    /** Characters decoded so far, before stop-string removal: the offset of the next token's text. */
    private int decodedChars;
    /** Set when the choice's output is complete ("stop" or "length"). */
    private String finishReason;
    private boolean engineDone;
    private Usage engineUsage;
    private long lastTokenNs;

    /** Splits the text into content and calls; null without tools. */
    private final ToolCallParser tools;
    private final ToolCallFormat format;
    private final TextModel text;
    /** The whole reply's calls (non-streamed responses), by index. */
    private final List<String[]> calls = new ArrayList<>(); // {id, name, arguments}

    /**
     * @param tools  the reply's function-call parser, or null when the request has no tools
     * @param format the model's tool-call format (its markers that are control tokens become text)
     */
    ChoiceState(int index, TextModel text, List<String> stopStrings, boolean logprobs, boolean keepText,
                ToolCallParser tools, ToolCallFormat format) {
        this.index = index;
        this.text = text;
        this.tools = tools;
        this.format = format;
        this.decoder = text.newDecoder();
        this.stops = new StopMatcher(stopStrings);
        this.logprobs = logprobs;
        this.fullText = keepText ? new StringBuilder() : null;
    }

    /** What one event changed for the client. */
    record Delta(int choice, String text, List<ToolCallDelta> toolCalls, List<GeneratedToken> tokens,
                 List<Integer> offsets, String finishReason) {
        boolean isEmpty() {
            return text.isEmpty() && toolCalls.isEmpty() && tokens.isEmpty() && finishReason == null;
        }
    }

    /**
     * Consumes one token. Tokens after the output ended (the engine had not yet seen our cancel)
     * are ignored.
     */
    Delta onToken(GeneratedToken token) {
        if (finishReason != null) {
            return null;
        }
        completionTokens++;
        List<GeneratedToken> tokens = List.of();
        List<Integer> offsets = List.of();
        if (logprobs) {
            tokens = List.of(token);
            offsets = List.of(decodedChars);
            allTokens.add(token);
            allOffsets.add(decodedChars);
        }
        String piece = decoder.next(token.tokenId());
        if (tools != null && piece.isEmpty() && text.tokenBytes(token.tokenId()).length == 0
                && format.isMarker(text.tokenText(token.tokenId()))) {
            piece = text.tokenText(token.tokenId()); // a control token that opens calls
        }
        decodedChars += piece.length();
        ToolCallParser.Output out = split(stops.push(piece), false);
        if (stops.stopped()) {
            out = concat(out, split("", true));
            finishReason = finish(FinishReason.STOP);
        }
        return new Delta(index, emit(out), out.calls(), tokens, offsets, finishReason);
    }

    /** Content and calls in {@code released}; with {@code end}, what the parser still held. */
    private ToolCallParser.Output split(String released, boolean end) {
        if (tools == null) {
            return new ToolCallParser.Output(released, List.of());
        }
        ToolCallParser.Output o = tools.push(released);
        return end ? concat(o, tools.finish()) : o;
    }

    private static ToolCallParser.Output concat(ToolCallParser.Output a, ToolCallParser.Output b) {
        if (b.isEmpty()) {
            return a;
        }
        if (a.isEmpty()) {
            return b;
        }
        List<ToolCallDelta> both = new ArrayList<>(a.calls());
        both.addAll(b.calls());
        return new ToolCallParser.Output(a.content() + b.content(), both);
    }

    /** OpenAI's name for how the choice ended: {@code tool_calls} when it stopped after calls. */
    private String finish(FinishReason reason) {
        if (reason == FinishReason.STOP && tools != null && tools.callCount() > 0) {
            return "tool_calls";
        }
        return reason.openAiName();
    }

    /**
     * The engine finished this choice. Releases held text unless a stop string already ended it.
     * Returns null if the output had already ended.
     */
    Delta onEngineFinish(FinishReason reason, Usage usage) {
        engineDone = true;
        engineUsage = usage;
        if (finishReason != null) {
            return null;
        }
        String tail = stops.push(decoder.finish());
        FinishReason ended = reason;
        if (stops.stopped()) {
            ended = FinishReason.STOP;
        } else {
            tail += stops.finish();
        }
        ToolCallParser.Output out = split(tail, true);
        finishReason = finish(ended);
        return new Delta(index, emit(out), out.calls(), List.of(), List.of(), finishReason);
    }

    /** The engine failed this choice; the request fails as a whole. */
    void onEngineError() {
        engineDone = true;
    }

    private String emit(ToolCallParser.Output out) {
        if (fullText != null) {
            fullText.append(out.content());
            for (ToolCallDelta d : out.calls()) {
                if (d.index() == calls.size()) {
                    calls.add(new String[] {d.id(), d.name(), d.arguments()});
                } else {
                    calls.get(d.index())[2] += d.arguments();
                }
            }
        }
        return out.content();
    }

    int index() {
        return index;
    }

    /** True once the client has this choice's whole output. */
    boolean outputDone() {
        return finishReason != null;
    }

    /** True once the engine reported the end of this choice (so its blocks are released). */
    boolean engineDone() {
        return engineDone;
    }

    /** True if the output ended with a stop string (the engine may still be running: cancel it). */
    boolean stoppedByString() {
        return stops.stopped();
    }

    String finishReason() {
        return finishReason;
    }

    int completionTokens() {
        return completionTokens;
    }

    /** The engine's usage report, or null if it has not finished. */
    Usage engineUsage() {
        return engineUsage;
    }

    String fullText() {
        return fullText == null ? "" : fullText.toString();
    }

    /** The whole reply's function calls (non-streamed responses). */
    List<ChatMessage.ToolCall> toolCalls() {
        List<ChatMessage.ToolCall> out = new ArrayList<>(calls.size());
        for (String[] c : calls) {
            out.add(new ChatMessage.ToolCall(c[0], c[1], c[2]));
        }
        return out;
    }

    List<GeneratedToken> allTokens() {
        return allTokens;
    }

    List<Integer> allOffsets() {
        return allOffsets;
    }

    /** Time of the previous token (for inter-token latency), 0 before the first. */
    long swapLastTokenNs(long nowNs) {
        long previous = lastTokenNs;
        lastTokenNs = nowNs;
        return previous;
    }
}
