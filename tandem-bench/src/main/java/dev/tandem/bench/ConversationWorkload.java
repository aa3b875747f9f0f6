package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code conversations}: N conversations of T turns. Each turn sends the conversation's whole
 * history (its user messages and the server's actual replies) plus a new user message, so turn
 * {@code t}'s prompt extends turn {@code t - 1}'s: a server with a prefix cache should serve that
 * part from cache. Conversations interleave (see {@link LoadRunner}).
 *
 * @param conversations N, &gt;= 1
 * @param turns         T, &gt;= 1
 * @param userWords     words per user message, &gt;= 1
 * @param systemWords   words in each conversation's own system prompt, 0 for none
 * @param maxTokens     reply length limit, &gt;= 1
 * @param seed          picks the words
 */
public record ConversationWorkload(int conversations, int turns, int userWords, int systemWords, int maxTokens,
                                   long seed) implements Workload {
    public ConversationWorkload {
        if (conversations < 1 || turns < 1) {
            throw new ConfigException("--conversations and --turns must be >= 1, got " + conversations + " and " + turns);
        }
        if (userWords < 1 || systemWords < 0) {
            throw new ConfigException("--user-words must be >= 1 and --system-words >= 0, got " + userWords + " and "
                    + systemWords);
        }
        if (maxTokens < 1) {
            throw new ConfigException("--max-tokens must be >= 1, got " + maxTokens);
        }
    }

    @Override
    public String name() {
        return "conversations";
    }

    @Override
    public String describe() {
        return "conversations: " + conversations + " x " + turns + " turns, " + userWords + " words per user message, "
                + (systemWords > 0 ? systemWords + "-word system prompt, " : "") + "max_tokens " + maxTokens
                + ", seed " + seed;
    }

    @Override
    public List<Session> sessions() {
        List<Session> out = new ArrayList<>(conversations);
        for (int c = 0; c < conversations; c++) {
            String system = systemWords > 0 ? Words.text(seed, stream(c, turns), systemWords) : null;
            List<Step> steps = new ArrayList<>(turns);
            for (int t = 0; t < turns; t++) {
                steps.add(new Step.UserTurn(Words.text(seed, stream(c, t), userWords), maxTokens));
            }
            out.add(new Session(c, system, steps, 0));
        }
        return out;
    }

    private long stream(int conversation, int turn) {
        return (long) conversation * (turns + 1) + turn;
    }

    @Override
    public ConversationWorkload withSeed(long s) {
        return new ConversationWorkload(conversations, turns, userWords, systemWords, maxTokens, s);
    }
}
