package dev.tandem.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns a session's next step into an OpenAI request body: streaming, with
 * {@code stream_options.include_usage} so the last chunk reports prompt, completion and cached
 * prompt tokens. Stateless; safe for concurrent use.
 */
final class RequestFactory {
    static final String CHAT_PATH = "/v1/chat/completions";
    static final String COMPLETIONS_PATH = "/v1/completions";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final RequestOptions options;

    RequestFactory(RequestOptions options) {
        this.options = options;
    }

    RequestOptions options() {
        return options;
    }

    /**
     * @param history the session's messages so far (user and assistant, alternating), for chat turns
     */
    PreparedRequest prepare(Session session, int turn, List<ChatMessage> history, long scheduledNs) {
        Step step = session.steps().get(turn);
        ObjectNode body = JSON.createObjectNode();
        body.put("model", options.model());
        List<ChatMessage> messages = null;
        int[] tokens = null;
        String path;
        switch (step) {
            case Step.UserTurn u -> {
                messages = new ArrayList<>(history.size() + 2);
                if (session.systemPrompt() != null) {
                    messages.add(ChatMessage.system(session.systemPrompt()));
                }
                messages.addAll(history);
                messages.add(ChatMessage.user(u.text()));
                ArrayNode array = body.putArray("messages");
                for (ChatMessage m : messages) {
                    array.addObject().put("role", m.role()).put("content", m.content());
                }
                path = CHAT_PATH;
            }
            case Step.TextCompletion t -> {
                body.put("prompt", t.text());
                path = COMPLETIONS_PATH;
            }
            case Step.TokenCompletion t -> {
                tokens = t.recipe().tokens();
                ArrayNode array = body.putArray("prompt");
                for (int id : tokens) {
                    array.add(id);
                }
                path = COMPLETIONS_PATH;
            }
        }
        body.put("max_tokens", step.maxTokens());
        body.put("temperature", options.temperature());
        body.put("seed", options.seed());
        if (options.ignoreEos()) {
            body.put("ignore_eos", true);
        }
        body.put("stream", true);
        body.putObject("stream_options").put("include_usage", true);
        byte[] bytes;
        try {
            bytes = JSON.writeValueAsBytes(body);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("cannot encode a request body", e);
        }
        return new PreparedRequest(session.id(), turn, path, bytes, messages, tokens, scheduledNs);
    }
}
