package dev.tandem.frontend;

import dev.tandem.core.OutputConstraint;
import dev.tandem.core.RequestException;
import dev.tandem.engine.grammar.SchemaCompiler;
import dev.tandem.frontend.openai.ApiException;
import dev.tandem.frontend.openai.CompletionSpec;
import dev.tandem.frontend.openai.Endpoint;
import dev.tandem.frontend.openai.Prompt;
import dev.tandem.frontend.text.TextModel;
import dev.tandem.frontend.tools.ToolCallFormat;
import dev.tandem.frontend.tools.ToolConversation;
import dev.tandem.frontend.tools.ToolSet;
import java.util.ArrayList;
import java.util.List;

/**
 * Chat template (with the request's functions, see {@link ToolConversation}), tokenisation and
 * block hashing of one request, the output constraint, plus the checks that need tokens: ids inside the vocabulary, and prompt plus {@code max_tokens} inside the context.
 * Stateless.
 */
final class Preprocessor {
    /** Completions' default {@code max_tokens}, as in OpenAI's legacy API. */
    static final int DEFAULT_COMPLETION_MAX_TOKENS = 16;

    private Preprocessor() {
    }

    /**
     * Prompts ready to route, the token budget per choice, the output constraint (the
     * {@code response_format}'s, or a forced tool call's) and the model's tool-call format.
     */
    record Prepared(List<PreparedPrompt> prompts, int maxTokens, OutputConstraint constraint, ToolCallFormat format) {
    }

    static Prepared prepare(CompletionSpec spec, TextModel text, int contextLength, int blockSizeTokens) {
        ToolCallFormat format = ToolCallFormat.detect(text.chatTemplateSource());
        List<int[]> tokenLists = tokenize(spec, text, format);
        String param = spec.endpoint() == Endpoint.CHAT ? "messages" : "prompt";
        int longest = 0;
        for (int[] ids : tokenLists) {
            if (ids.length == 0) {
                throw ApiException.invalid(param, "the prompt is empty after tokenisation");
            }
            longest = Math.max(longest, ids.length);
        }
        int maxTokens = maxTokens(spec, contextLength, longest, param);
        List<PreparedPrompt> prompts = new ArrayList<>(tokenLists.size());
        for (int[] ids : tokenLists) {
            prompts.add(new PreparedPrompt(ids, blockSizeTokens));
        }
        return new Prepared(prompts, maxTokens, constraint(spec, format), format);
    }

    /** The {@code response_format}'s constraint, or for a forced call, the call's (checked here: a 400). */
    private static OutputConstraint constraint(CompletionSpec spec, ToolCallFormat format) {
        ToolSet tools = spec.tools();
        if (tools == null || !tools.forced()) {
            return spec.constraint();
        }
        OutputConstraint c = format.forcedCall(tools.candidates());
        try {
            SchemaCompiler.check(c.jsonSchema(), "tools");
        } catch (RequestException e) {
            throw ApiException.invalid("tools", e.getMessage());
        }
        return c;
    }

    private static List<int[]> tokenize(CompletionSpec spec, TextModel text, ToolCallFormat format) {
        try {
            if (spec.endpoint() == Endpoint.CHAT) {
                ToolConversation.Prepared chat = ToolConversation.prepare(spec.messages(), spec.tools(),
                        text.chatTemplateSource(), format);
                return List.of(text.encodeChat(chat.messages(), chat.toolsJson()));
            }
            List<int[]> out = new ArrayList<>(spec.prompts().size());
            for (Prompt p : spec.prompts()) {
                out.add(switch (p) {
                    case Prompt.Text t -> text.encodePrompt(t.text());
                    case Prompt.Tokens t -> checkedIds(t.ids(), text.vocabSize());
                });
            }
            return out;
        } catch (RequestException e) {
            throw ApiException.from(e);
        }
    }

    private static int[] checkedIds(int[] ids, int vocabSize) {
        for (int id : ids) {
            if (id >= vocabSize) {
                throw ApiException.invalid("prompt", "token id " + id + " is outside the vocabulary [0, "
                        + vocabSize + ")");
            }
        }
        return ids;
    }

    private static int maxTokens(CompletionSpec spec, int contextLength, int promptTokens, String param) {
        int room = contextLength - promptTokens;
        Integer asked = spec.maxTokens();
        if (asked == null) {
            if (room < 1) {
                throw contextExceeded(contextLength, promptTokens, 1, param);
            }
            return spec.endpoint() == Endpoint.CHAT ? room : Math.min(DEFAULT_COMPLETION_MAX_TOKENS, room);
        }
        if ((long) promptTokens + asked > contextLength) {
            throw contextExceeded(contextLength, promptTokens, asked, param);
        }
        return asked;
    }

    private static ApiException contextExceeded(int contextLength, int promptTokens, int maxTokens, String param) {
        return new ApiException(400, "invalid_request_error", "context_length_exceeded", param,
                "This model's maximum context length is " + contextLength + " tokens. However, you requested "
                        + ((long) promptTokens + maxTokens) + " tokens (" + promptTokens + " in the "
                        + param + ", " + maxTokens + " in the completion). Please reduce the length of the "
                        + param + " or completion.");
    }
}
