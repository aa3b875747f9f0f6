package dev.tandem.bench;

/**
 * One request of a {@link Session}. A session's steps run one after another: step {@code k + 1}
 * is sent only after step {@code k} finished, which is what makes a conversation's history
 * (including the server's actual replies) available to its next turn.
 */
public sealed interface Step permits Step.UserTurn, Step.TextCompletion, Step.TokenCompletion {

    /** Most tokens the server may generate for this request, &gt;= 1. */
    int maxTokens();

    /**
     * A chat turn sent to {@code /v1/chat/completions}: the session's system prompt, its whole
     * history so far (user messages and the server's replies) and this new user message.
     */
    record UserTurn(String text, int maxTokens) implements Step {
        public UserTurn {
            checkMaxTokens(maxTokens);
        }
    }

    /** A text prompt sent to {@code /v1/completions}. */
    record TextCompletion(String text, int maxTokens) implements Step {
        public TextCompletion {
            checkMaxTokens(maxTokens);
        }
    }

    /**
     * A token-id prompt sent to {@code /v1/completions} as {@code "prompt": [ids]}; the ids are
     * made when the request is sent (a trace's prompts would not fit in memory all at once).
     */
    record TokenCompletion(TokenRecipe recipe, int maxTokens) implements Step {
        public TokenCompletion {
            checkMaxTokens(maxTokens);
        }
    }

    private static void checkMaxTokens(int maxTokens) {
        if (maxTokens < 1) {
            throw new IllegalArgumentException("maxTokens must be >= 1, got " + maxTokens);
        }
    }
}
