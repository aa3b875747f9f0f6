package dev.tandem.bench;

import java.util.List;

/**
 * One request ready to send: the endpoint path and the JSON body, with where it came from.
 * Immutable; the body array is never modified after construction.
 */
public final class PreparedRequest {
    private final int sessionId;
    private final int turn;
    private final String path;
    private final byte[] body;
    private final List<ChatMessage> messages;
    private final int[] promptTokenIds;
    private final long scheduledNs;

    /**
     * @param messages       the chat messages sent (chat requests), else null
     * @param promptTokenIds the token ids sent (token-id prompts), else null
     * @param scheduledNs    when the arrival process wanted it sent ({@link System#nanoTime()} scale)
     */
    public PreparedRequest(int sessionId, int turn, String path, byte[] body, List<ChatMessage> messages,
                           int[] promptTokenIds, long scheduledNs) {
        this.sessionId = sessionId;
        this.turn = turn;
        this.path = path;
        this.body = body;
        this.messages = messages == null ? null : List.copyOf(messages);
        this.promptTokenIds = promptTokenIds;
        this.scheduledNs = scheduledNs;
    }

    public int sessionId() {
        return sessionId;
    }

    /** Position in its session, from 0. */
    public int turn() {
        return turn;
    }

    /** {@code /v1/chat/completions} or {@code /v1/completions}. */
    public String path() {
        return path;
    }

    /** The JSON body (do not modify). */
    byte[] body() {
        return body;
    }

    /** The chat messages sent, or null for a completion request. */
    public List<ChatMessage> messages() {
        return messages;
    }

    /** Number of token ids sent, or -1 for a text prompt. */
    public int promptTokenCount() {
        return promptTokenIds == null ? -1 : promptTokenIds.length;
    }

    /** A copy of the token ids sent, or null for a text prompt. */
    public int[] promptTokenIds() {
        return promptTokenIds == null ? null : promptTokenIds.clone();
    }

    public long scheduledNs() {
        return scheduledNs;
    }
}
