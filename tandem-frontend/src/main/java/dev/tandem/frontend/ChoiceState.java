package dev.tandem.frontend;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.Usage;
import dev.tandem.frontend.text.StopMatcher;
import dev.tandem.frontend.text.TextModel;
import java.util.ArrayList;
import java.util.List;

/**
 * The output side of one choice: token bytes to whole characters, stop strings, token counting
 * and logprobs, in arrival order.
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

    ChoiceState(int index, TextModel text, List<String> stopStrings, boolean logprobs, boolean keepText) {
        this.index = index;
        this.decoder = text.newDecoder();
        this.stops = new StopMatcher(stopStrings);
        this.logprobs = logprobs;
        this.fullText = keepText ? new StringBuilder() : null;
    }

    /** What one event changed for the client. */
    record Delta(int choice, String text, List<GeneratedToken> tokens, List<Integer> offsets, String finishReason) {
        boolean isEmpty() {
            return text.isEmpty() && tokens.isEmpty() && finishReason == null;
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
        decodedChars += piece.length();
        String out = emit(stops.push(piece));
        if (stops.stopped()) {
            finishReason = FinishReason.STOP.openAiName();
        }
        return new Delta(index, out, tokens, offsets, finishReason);
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
        if (stops.stopped()) {
            finishReason = FinishReason.STOP.openAiName();
        } else {
            tail += stops.finish();
            finishReason = reason.openAiName();
        }
        return new Delta(index, emit(tail), List.of(), List.of(), finishReason);
    }

    /** The engine failed this choice; the request fails as a whole. */
    void onEngineError() {
        engineDone = true;
    }

    private String emit(String s) {
        if (fullText != null) {
            fullText.append(s);
        }
        return s;
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
