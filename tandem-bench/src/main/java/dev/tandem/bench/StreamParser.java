package dev.tandem.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Arrays;

/**
 * Reads an OpenAI streaming response, one line at a time, as the Server-Sent Events format
 * defines it: {@code data:} lines accumulate (joined by newlines) until a blank line dispatches
 * the event; comment lines ({@code :...}) and other fields are skipped; {@code data: [DONE]} ends
 * the stream. Each event is a chunk: its text ({@code choices[0].text} or
 * {@code choices[0].delta.content}) is appended to the reply and timestamped, and its
 * {@code usage}, when present, gives the token counts.
 *
 * <p>Failures: a chunk that is not JSON is {@link RequestResult#PROTOCOL}, a chunk with an
 * {@code error} member is {@link RequestResult#STREAM_ERROR}, a stream that ends without
 * {@code [DONE]} is {@link RequestResult#TRUNCATED}. The first failure ends parsing.
 *
 * <p>Owned by one request's thread.
 */
final class StreamParser {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String DONE = "[DONE]";

    private final StringBuilder data = new StringBuilder();
    private boolean hasData;
    private final StringBuilder reply = new StringBuilder();
    private long[] chunkNs = new long[64];
    private int chunkCount;
    private int promptTokens = -1;
    private int completionTokens = -1;
    private int cachedTokens = -1;
    private boolean done;
    private String errorType;
    private String errorMessage;

    /** Feeds one line without its terminator; returns false once the stream is done or failed. */
    boolean line(String line, long nowNs) {
        if (finished()) {
            return false;
        }
        if (line.isEmpty()) {
            dispatch(nowNs);
        } else if (line.charAt(0) != ':') {
            int colon = line.indexOf(':');
            String field = colon < 0 ? line : line.substring(0, colon);
            if (field.equals("data")) {
                String value = colon < 0 ? "" : line.substring(colon + 1);
                if (value.startsWith(" ")) {
                    value = value.substring(1);
                }
                if (hasData) {
                    data.append('\n');
                }
                data.append(value);
                hasData = true;
            }
        }
        return !finished();
    }

    /** The stream ended (EOF): dispatches a pending event, and fails the request if no {@code [DONE]} came. */
    void end(long nowNs) {
        if (hasData && !finished()) {
            dispatch(nowNs);
        }
        if (!finished()) {
            fail(RequestResult.TRUNCATED, "the stream ended without data: [DONE] after " + chunkCount + " chunks");
        }
    }

    /** Reads a non-streaming JSON response (a server that ignored {@code stream: true}) as one chunk. */
    void wholeBody(String body, long nowNs) {
        JsonNode root = parse(body);
        if (root == null) {
            return;
        }
        JsonNode choice = root.path("choices").path(0);
        String text = choice.path("message").path("content").asText(choice.path("text").asText(""));
        addChunk(text, nowNs);
        readUsage(root);
        if (!finished()) {
            done = true;
        }
    }

    boolean failed() {
        return errorType != null;
    }

    boolean finished() {
        return done || errorType != null;
    }

    private void dispatch(long nowNs) {
        if (!hasData) {
            return;
        }
        String payload = data.toString();
        data.setLength(0);
        hasData = false;
        if (payload.equals(DONE)) {
            done = true;
            return;
        }
        JsonNode chunk = parse(payload);
        if (chunk == null) {
            return;
        }
        JsonNode choice = chunk.path("choices").path(0);
        String text = choice.has("delta") ? choice.path("delta").path("content").asText("")
                : choice.path("text").asText("");
        addChunk(text, nowNs);
        readUsage(chunk);
    }

    private JsonNode parse(String payload) {
        JsonNode node;
        try {
            node = JSON.readTree(payload);
        } catch (IOException e) {
            node = null;
        }
        if (node == null || !node.isObject()) {
            fail(RequestResult.PROTOCOL, "malformed chunk: " + abbreviate(payload));
            return null;
        }
        if (node.hasNonNull("error")) {
            JsonNode error = node.get("error");
            fail(RequestResult.STREAM_ERROR, error.isObject() ? error.path("message").asText(error.toString())
                    : error.asText());
            return null;
        }
        return node;
    }

    private void addChunk(String text, long nowNs) {
        if (text.isEmpty()) {
            return;
        }
        reply.append(text);
        if (chunkCount == chunkNs.length) {
            chunkNs = Arrays.copyOf(chunkNs, chunkCount * 2);
        }
        chunkNs[chunkCount++] = nowNs;
    }

    private void readUsage(JsonNode node) {
        JsonNode usage = node.get("usage");
        if (usage == null || !usage.isObject()) {
            return;
        }
        promptTokens = count(usage.get("prompt_tokens"));
        completionTokens = count(usage.get("completion_tokens"));
        cachedTokens = count(usage.path("prompt_tokens_details").get("cached_tokens"));
    }

    private static int count(JsonNode n) {
        return n != null && n.canConvertToInt() && n.isIntegralNumber() && n.asInt() >= 0 ? n.asInt() : -1;
    }

    private void fail(String type, String message) {
        if (errorType == null) {
            errorType = type;
            errorMessage = message;
        }
    }

    private static String abbreviate(String s) {
        return s.length() <= 120 ? s : s.substring(0, 117) + "...";
    }

    /** Copies what was read into a result builder. */
    void fill(RequestResult.Builder b) {
        b.chunkNs(Arrays.copyOf(chunkNs, chunkCount)).usage(promptTokens, completionTokens, cachedTokens)
                .reply(reply.toString());
        if (errorType != null) {
            b.error(errorType, errorMessage);
        }
    }
}
