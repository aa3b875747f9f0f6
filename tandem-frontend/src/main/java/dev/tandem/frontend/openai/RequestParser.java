package dev.tandem.frontend.openai;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.tandem.core.OutputConstraint;
import dev.tandem.core.RequestException;
import dev.tandem.core.SamplingParams;
import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.frontend.tools.ToolSet;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads an OpenAI request body into a {@link CompletionSpec}, or throws one {@link ApiException}
 * (status 400) that names the field at fault. Unknown fields are ignored, as OpenAI does; fields
 * Tandem knows but cannot honour (legacy functions, logit_bias, echo, ...) are refused rather than silently
 * dropped, since ignoring them would change the answer. Functions ({@code tools},
 * {@code tool_choice}, {@code parallel_tool_calls}, tool messages) are read by {@link ToolRequests}. A {@code null} value means "absent".
 *
 * <p>Safe for concurrent use.
 */
public final class RequestParser {
    /** Most choices per prompt. */
    public static final int MAX_N = 16;
    /** Most prompts in one completions request. */
    public static final int MAX_PROMPTS = 64;
    /** Most stop strings. */
    public static final int MAX_STOP_STRINGS = 16;
    /** Most alternatives per token in logprobs. */
    public static final int MAX_TOP_LOGPROBS = 20;

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    private RequestParser() {
    }

    /** Parses and validates a request body for {@code endpoint}. */
    public static CompletionSpec parse(Endpoint endpoint, byte[] body) {
        JsonNode root = readJson(body);
        if (!root.isObject()) {
            throw ApiException.invalid(null, "The request body must be a JSON object, got " + kind(root));
        }
        refuseUnsupported(endpoint, root);
        String model = optString(root, "model");
        List<ChatMessage> messages = endpoint == Endpoint.CHAT ? messages(root) : List.of();
        List<Prompt> prompts = endpoint == Endpoint.COMPLETIONS ? prompts(root) : List.of();
        Integer maxTokens = maxTokens(endpoint, root);
        int n = optInt(root, "n", 1, MAX_N, 1);
        int topLogprobs = topLogprobs(endpoint, root);
        boolean stream = optBool(root, "stream", false);
        boolean includeUsage = false;
        JsonNode streamOptions = present(root, "stream_options");
        if (streamOptions != null) {
            if (!streamOptions.isObject()) {
                throw wrongType("stream_options", "an object", streamOptions);
            }
            includeUsage = optBool(streamOptions, "include_usage", "stream_options.include_usage", false);
        }
        OutputConstraint format = ResponseFormats.parse(present(root, "response_format"));
        ToolSet tools = endpoint == Endpoint.CHAT ? ToolRequests.parse(present(root, "tools"),
                present(root, "tool_choice"), present(root, "parallel_tool_calls")) : null;
        if (tools != null && tools.forced() && format != null) {
            throw ApiException.invalid("tool_choice", "a forced 'tool_choice' cannot be combined with a "
                    + "'response_format' other than 'text'");
        }
        return new CompletionSpec(endpoint, model, messages, prompts, maxTokens, sampling(root), stop(root),
                nonNegativeInts(root, "stop_token_ids"), n, topLogprobs, stream, stream && includeUsage,
                optBool(root, "ignore_eos", false), optString(root, "user"), format, tools);
    }

    static JsonNode readJson(byte[] body) {
        if (body.length == 0) {
            throw ApiException.invalid(null, "The request body is empty; expected a JSON object");
        }
        try {
            JsonNode root = JSON.readTree(body);
            if (root == null || root.isMissingNode()) {
                throw ApiException.invalid(null, "The request body is empty; expected a JSON object");
            }
            return root;
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
            throw ApiException.invalid(null, "The request body is not valid JSON: " + e.getOriginalMessage() + where);
        } catch (IOException e) {
            throw ApiException.invalid(null, "The request body could not be read: " + e.getMessage());
        }
    }

    private static void refuseUnsupported(Endpoint endpoint, JsonNode root) {
        for (String field : endpoint == Endpoint.CHAT ? List.of("functions") : List.of("tools", "functions")) {
            JsonNode v = present(root, field);
            if (v != null && !(v.isArray() && v.isEmpty())) {
                throw ApiException.invalid(field, "'" + field + "' is not supported by this server");
            }
        }
        JsonNode bias = present(root, "logit_bias");
        if (bias != null && !(bias.isObject() && bias.isEmpty())) {
            throw ApiException.invalid("logit_bias", "'logit_bias' is not supported by this server");
        }
        if (endpoint == Endpoint.COMPLETIONS) {
            if (optBool(root, "echo", false)) {
                throw ApiException.invalid("echo", "'echo' is not supported by this server");
            }
            String suffix = optString(root, "suffix");
            if (suffix != null && !suffix.isEmpty()) {
                throw ApiException.invalid("suffix", "'suffix' is not supported by this server");
            }
        }
        JsonNode bestOf = present(root, "best_of");
        if (bestOf != null) {
            int b = optInt(root, "best_of", 1, MAX_N, 1);
            int n = optInt(root, "n", 1, MAX_N, 1);
            if (b != n && b != 1) {
                throw ApiException.invalid("best_of", "best_of different from n is not supported, got best_of="
                        + b + " n=" + n);
            }
        }
    }

    private static List<ChatMessage> messages(JsonNode root) {
        JsonNode list = present(root, "messages");
        if (list == null) {
            throw ApiException.invalid("messages", "'messages' is required");
        }
        if (!list.isArray()) {
            throw wrongType("messages", "an array of messages", list);
        }
        if (list.isEmpty()) {
            throw ApiException.invalid("messages", "'messages' must contain at least one message");
        }
        List<ChatMessage> out = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            out.add(message(list.get(i), "messages[" + i + "]"));
        }
        return out;
    }

    private static ChatMessage message(JsonNode m, String where) {
        if (!m.isObject()) {
            throw wrongType(where, "an object", m);
        }
        JsonNode roleNode = m.get("role");
        if (roleNode == null || !roleNode.isTextual()) {
            throw ApiException.invalid(where + ".role", where + ".role must be a string");
        }
        String role = switch (roleNode.asText()) {
            case "system", "developer" -> "system";
            case "user" -> "user";
            case "assistant" -> "assistant";
            case "tool" -> "tool";
            default -> throw ApiException.invalid(where + ".role", where + ".role '" + roleNode.asText()
                    + "' is not supported (expected system, developer, user, assistant or tool)");
        };
        JsonNode content = m.get("content");
        String text;
        if (content == null || content.isNull()) {
            if (!role.equals("assistant")) {
                throw ApiException.invalid(where + ".content", where + ".content is required");
            }
            text = null;
        } else if (content.isTextual()) {
            text = content.asText();
        } else if (content.isArray()) {
            text = contentParts(content, where + ".content");
        } else {
            throw wrongType(where + ".content", "a string or an array of text parts", content);
        }
        List<ChatMessage.ToolCall> calls = role.equals("assistant") ? ToolRequests.messageCalls(
                present(m, "tool_calls"), where + ".tool_calls") : List.of();
        String callId = null;
        if (role.equals("tool")) {
            JsonNode id = present(m, "tool_call_id");
            if (id == null || !id.isTextual()) {
                throw ApiException.invalid(where + ".tool_call_id", where + ".tool_call_id is required (a string)");
            }
            callId = id.asText();
        }
        return new ChatMessage(role, text, calls, callId);
    }

    private static String contentParts(JsonNode parts, String where) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < parts.size(); i++) {
            JsonNode p = parts.get(i);
            String at = where + "[" + i + "]";
            JsonNode type = p.isObject() ? p.get("type") : null;
            if (type == null || !type.isTextual()) {
                throw ApiException.invalid(at, at + " must be an object with a 'type'");
            }
            if (!type.asText().equals("text")) {
                throw ApiException.invalid(at + ".type", "content part type '" + type.asText() + "' is not supported");
            }
            JsonNode t = p.get("text");
            if (t == null || !t.isTextual()) {
                throw ApiException.invalid(at + ".text", at + ".text must be a string");
            }
            sb.append(t.asText());
        }
        return sb.toString();
    }

    private static List<Prompt> prompts(JsonNode root) {
        JsonNode p = present(root, "prompt");
        if (p == null) {
            throw ApiException.invalid("prompt", "'prompt' is required");
        }
        if (p.isTextual()) {
            return List.of(new Prompt.Text(p.asText()));
        }
        if (!p.isArray()) {
            throw wrongType("prompt", "a string, an array of strings, or an array of token ids", p);
        }
        if (p.isEmpty()) {
            throw ApiException.invalid("prompt", "'prompt' must not be an empty array");
        }
        JsonNode first = p.get(0);
        List<Prompt> out = new ArrayList<>();
        if (first.isTextual()) {
            for (JsonNode e : p) {
                if (!e.isTextual()) {
                    throw ApiException.invalid("prompt", "'prompt' mixes strings and other values");
                }
                out.add(new Prompt.Text(e.asText()));
            }
        } else if (first.isArray()) {
            for (JsonNode e : p) {
                if (!e.isArray()) {
                    throw ApiException.invalid("prompt", "'prompt' mixes token arrays and other values");
                }
                out.add(new Prompt.Tokens(tokenIds(e)));
            }
        } else {
            out.add(new Prompt.Tokens(tokenIds(p)));
        }
        if (out.size() > MAX_PROMPTS) {
            throw ApiException.invalid("prompt", "at most " + MAX_PROMPTS + " prompts per request, got " + out.size());
        }
        return out;
    }

    private static int[] tokenIds(JsonNode array) {
        if (array.isEmpty()) {
            throw ApiException.invalid("prompt", "a token-id prompt must not be empty");
        }
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode e = array.get(i);
            if (!isInteger(e) || !e.canConvertToInt() || e.asInt() < 0) {
                throw ApiException.invalid("prompt", "token ids must be non-negative integers, got " + brief(e));
            }
            ids[i] = e.asInt();
        }
        return ids;
    }

    private static Integer maxTokens(Endpoint endpoint, JsonNode root) {
        String field = endpoint == Endpoint.CHAT && present(root, "max_completion_tokens") != null
                ? "max_completion_tokens" : "max_tokens";
        if (present(root, field) == null) {
            return null;
        }
        return optInt(root, field, 1, Integer.MAX_VALUE, 0);
    }

    private static int topLogprobs(Endpoint endpoint, JsonNode root) {
        if (endpoint == Endpoint.COMPLETIONS) {
            return present(root, "logprobs") == null ? -1 : optInt(root, "logprobs", 0, MAX_TOP_LOGPROBS, 0);
        }
        boolean on = optBool(root, "logprobs", false);
        JsonNode top = present(root, "top_logprobs");
        if (top != null && !on) {
            throw ApiException.invalid("top_logprobs", "'top_logprobs' requires 'logprobs': true");
        }
        return on ? optInt(root, "top_logprobs", 0, MAX_TOP_LOGPROBS, 0) : -1;
    }

    private static SamplingParams sampling(JsonNode root) {
        int topK = optInt(root, "top_k", -1, Integer.MAX_VALUE, 0);
        Long seed = null;
        JsonNode s = present(root, "seed");
        if (s != null) {
            if (!isInteger(s) || !s.canConvertToLong()) {
                throw wrongType("seed", "a 64-bit integer", s);
            }
            seed = s.asLong();
        }
        try {
            return new SamplingParams(optFloat(root, "temperature", 1f), topK < 0 ? 0 : topK,
                    optFloat(root, "top_p", 1f), optFloat(root, "min_p", 0f), seed,
                    optFloat(root, "repetition_penalty", 1f), optFloat(root, "presence_penalty", 0f),
                    optFloat(root, "frequency_penalty", 0f));
        } catch (RequestException e) {
            throw ApiException.invalid(e.param(), e.getMessage());
        }
    }

    private static List<String> stop(JsonNode root) {
        JsonNode s = present(root, "stop");
        if (s == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (s.isTextual()) {
            out.add(s.asText());
        } else if (s.isArray()) {
            for (JsonNode e : s) {
                if (!e.isTextual()) {
                    throw wrongType("stop", "a string or an array of strings", s);
                }
                out.add(e.asText());
            }
        } else {
            throw wrongType("stop", "a string or an array of strings", s);
        }
        if (out.size() > MAX_STOP_STRINGS) {
            throw ApiException.invalid("stop", "at most " + MAX_STOP_STRINGS + " stop strings, got " + out.size());
        }
        if (out.stream().anyMatch(String::isEmpty)) {
            throw ApiException.invalid("stop", "stop strings must not be empty");
        }
        return out;
    }

    private static List<Integer> nonNegativeInts(JsonNode root, String field) {
        JsonNode a = present(root, field);
        if (a == null) {
            return List.of();
        }
        if (!a.isArray()) {
            throw wrongType(field, "an array of token ids", a);
        }
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : a) {
            if (!isInteger(e) || !e.canConvertToInt() || e.asInt() < 0) {
                throw ApiException.invalid(field, field + " must hold non-negative integers, got " + brief(e));
            }
            out.add(e.asInt());
        }
        return out;
    }

    // ---- field helpers -------------------------------------------------------------------------

    /** The field's value, or null when absent or JSON null. */
    private static JsonNode present(JsonNode obj, String field) {
        JsonNode v = obj.get(field);
        return v == null || v.isNull() ? null : v;
    }

    private static String optString(JsonNode obj, String field) {
        JsonNode v = present(obj, field);
        if (v == null) {
            return null;
        }
        if (!v.isTextual()) {
            throw wrongType(field, "a string", v);
        }
        return v.asText();
    }

    private static boolean optBool(JsonNode obj, String field, boolean dflt) {
        return optBool(obj, field, field, dflt);
    }

    private static boolean optBool(JsonNode obj, String field, String name, boolean dflt) {
        JsonNode v = present(obj, field);
        if (v == null) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw wrongType(name, "a boolean", v);
        }
        return v.asBoolean();
    }

    private static int optInt(JsonNode obj, String field, int min, int max, int dflt) {
        JsonNode v = present(obj, field);
        if (v == null) {
            return dflt;
        }
        if (!isInteger(v)) {
            throw wrongType(field, "an integer", v);
        }
        if (!v.canConvertToLong() || v.asLong() < min || v.asLong() > max) {
            throw ApiException.invalid(field, field + " must be an integer in [" + min + ", " + max + "], got "
                    + brief(v));
        }
        return (int) v.asLong();
    }

    private static float optFloat(JsonNode obj, String field, float dflt) {
        JsonNode v = present(obj, field);
        if (v == null) {
            return dflt;
        }
        if (!v.isNumber()) {
            throw wrongType(field, "a number", v);
        }
        double d = v.asDouble();
        if (!Double.isFinite(d) || Math.abs(d) > Float.MAX_VALUE) {
            throw ApiException.invalid(field, field + " must be a finite number, got " + brief(v));
        }
        return (float) d;
    }

    /** An integral JSON number: 3, or 3.0 (as lenient clients send). */
    private static boolean isInteger(JsonNode v) {
        if (v.isIntegralNumber()) {
            return true;
        }
        return v.isNumber() && Double.isFinite(v.asDouble()) && v.asDouble() == Math.rint(v.asDouble());
    }

    private static ApiException wrongType(String field, String expected, JsonNode got) {
        return ApiException.invalid(field, field + " must be " + expected + ", got " + kind(got) + " " + brief(got));
    }

    private static String kind(JsonNode v) {
        return switch (v.getNodeType()) {
            case ARRAY -> "an array";
            case OBJECT, POJO -> "an object";
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL, MISSING -> "null";
            case BINARY -> "binary";
        };
    }

    private static String brief(JsonNode v) {
        String s = v.toString();
        return s.length() > 40 ? s.substring(0, 37) + "..." : s;
    }
}
