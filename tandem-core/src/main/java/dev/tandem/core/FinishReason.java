package dev.tandem.core;

/** Why a generation ended, in OpenAI's terms. */
public enum FinishReason {
    /** An end-of-generation token, a stop token id, or (in the frontend) a stop string. */
    STOP,
    /** The token budget ({@code max_tokens}) or the context was exhausted. */
    LENGTH,
    /** Cancelled by the caller. */
    CANCELLED;

    /** The OpenAI {@code finish_reason} value. */
    public String openAiName() {
        return switch (this) {
            case STOP -> "stop";
            case LENGTH -> "length";
            case CANCELLED -> "cancelled";
        };
    }
}
