package dev.tandem.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * A session in flight: which turn comes next and the chat history so far. Touched by one thread
 * at a time (the dispatcher while preparing, then the request's thread when it finishes); the
 * {@link ReadyQueue}'s lock orders those hand-overs.
 */
final class SessionState {
    final Session session;
    final List<ChatMessage> history = new ArrayList<>();
    int nextTurn;

    SessionState(Session session) {
        this.session = session;
    }

    boolean hasMore() {
        return nextTurn < session.steps().size();
    }

    /** Records a finished chat turn: the user message sent and the server's reply. */
    void recordReply(Step step, String reply) {
        if (step instanceof Step.UserTurn u) {
            history.add(ChatMessage.user(u.text()));
            history.add(ChatMessage.assistant(reply));
        }
    }
}
