package dev.tandem.frontend.openai;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.Usage;
import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.frontend.text.TextModel;
import dev.tandem.frontend.tools.ToolCallDelta;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Writes one request's responses in OpenAI's shapes: whole responses, SSE chunks
 * ({@code data: {json}\n\n}), the usage chunk, {@code data: [DONE]}, and errors.
 *
 * <h2>Design</h2>
 * JSON is produced with Jackson's streaming generator into a buffer this writer reuses for every
 * chunk of its request, so a streamed token costs one small JSON object and no tree. A chunk is
 * complete in the buffer before any byte reaches the socket; the caller decides when to flush.
 *
 * <h2>Concurrency</h2>
 * Not thread-safe: owned by the thread serving the request.
 */
public final class ResponseWriter {
    private static final JsonFactory JSON = new JsonFactory();
    private static final byte[] DATA = "data: ".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] EVENT_END = "\n\n".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] DONE = "data: [DONE]\n\n".getBytes(StandardCharsets.US_ASCII);
    /** OpenAI's stand-in for log(0). */
    private static final double MIN_LOGPROB = -9999.0;

    private final Endpoint endpoint;
    private final String id;
    private final long createdSeconds;
    private final String model;
    private final TextModel text;
    private final boolean usageNullInChunks;
    private final ByteArrayOutputStream buffer = new ByteArrayOutputStream(512);

    /**
     * @param usageNullInChunks write {@code "usage": null} in every chunk (as OpenAI does when
     *                          the client asked for a usage chunk)
     */
    public ResponseWriter(Endpoint endpoint, String id, long createdSeconds, String model, TextModel text,
                          boolean usageNullInChunks) {
        this.endpoint = endpoint;
        this.id = id;
        this.createdSeconds = createdSeconds;
        this.model = model;
        this.text = text;
        this.usageNullInChunks = usageNullInChunks;
    }

    public String id() {
        return id;
    }

    /**
     * Writes one SSE chunk for one choice.
     *
     * @param withRole     chat only: put {@code "role": "assistant"} in the delta (first chunk)
     * @param delta        new text, may be empty
     * @param toolCalls    chat only: what the text added to function calls, may be empty
     * @param tokens       tokens whose logprobs go in this chunk; null when logprobs are off
     * @param textOffsets  completions only: each token's offset in the choice's text
     * @param finishReason null until the choice's last chunk
     */
    public void chunk(OutputStream out, int index, boolean withRole, String delta, List<ToolCallDelta> toolCalls,
                      List<GeneratedToken> tokens, List<Integer> textOffsets, int topLogprobs, String finishReason)
            throws IOException {
        buffer.reset();
        buffer.write(DATA);
        try (JsonGenerator g = JSON.createGenerator(buffer)) {
            g.writeStartObject();
            header(g, endpoint.chunkObject());
            g.writeArrayFieldStart("choices");
            g.writeStartObject();
            g.writeNumberField("index", index);
            if (endpoint == Endpoint.CHAT) {
                g.writeObjectFieldStart("delta");
                if (withRole) {
                    g.writeStringField("role", "assistant");
                }
                if (!delta.isEmpty()) {
                    g.writeStringField("content", delta);
                } else if (withRole) {
                    if (toolCalls.isEmpty()) {
                        g.writeStringField("content", "");
                    } else {
                        g.writeNullField("content");
                    }
                }
                if (!toolCalls.isEmpty()) {
                    g.writeArrayFieldStart("tool_calls");
                    for (ToolCallDelta d : toolCalls) {
                        g.writeStartObject();
                        g.writeNumberField("index", d.index());
                        if (d.id() != null) {
                            g.writeStringField("id", d.id());
                            g.writeStringField("type", "function");
                        }
                        g.writeObjectFieldStart("function");
                        if (d.name() != null) {
                            g.writeStringField("name", d.name());
                        }
                        g.writeStringField("arguments", d.arguments());
                        g.writeEndObject();
                        g.writeEndObject();
                    }
                    g.writeEndArray();
                }
                g.writeEndObject();
            } else {
                g.writeStringField("text", delta);
            }
            g.writeFieldName("logprobs");
            logprobs(g, tokens, textOffsets, topLogprobs);
            g.writeStringField("finish_reason", finishReason);
            g.writeEndObject();
            g.writeEndArray();
            if (usageNullInChunks) {
                g.writeNullField("usage");
            }
            g.writeEndObject();
        }
        buffer.write(EVENT_END);
        buffer.writeTo(out);
    }

    /** The final usage chunk: empty choices, the request's usage. */
    public void usageChunk(OutputStream out, Usage usage) throws IOException {
        buffer.reset();
        buffer.write(DATA);
        try (JsonGenerator g = JSON.createGenerator(buffer)) {
            g.writeStartObject();
            header(g, endpoint.chunkObject());
            g.writeArrayFieldStart("choices");
            g.writeEndArray();
            usage(g, usage);
            g.writeEndObject();
        }
        buffer.write(EVENT_END);
        buffer.writeTo(out);
    }

    /** An error inside a stream that already started: OpenAI's error object as one event. */
    public void errorEvent(OutputStream out, ApiException error) throws IOException {
        out.write(DATA);
        out.write(errorBody(error));
        out.write(EVENT_END);
    }

    public static void done(OutputStream out) throws IOException {
        out.write(DONE);
    }

    /** A whole (non-streamed) response. */
    public byte[] response(List<ChoiceResult> choices, int topLogprobs, Usage usage) {
        buffer.reset();
        try (JsonGenerator g = JSON.createGenerator(buffer)) {
            g.writeStartObject();
            header(g, endpoint.object());
            g.writeArrayFieldStart("choices");
            for (ChoiceResult c : choices) {
                g.writeStartObject();
                g.writeNumberField("index", c.index());
                if (endpoint == Endpoint.CHAT) {
                    g.writeObjectFieldStart("message");
                    g.writeStringField("role", "assistant");
                    if (c.text().isEmpty() && !c.toolCalls().isEmpty()) {
                        g.writeNullField("content");
                    } else {
                        g.writeStringField("content", c.text());
                    }
                    if (!c.toolCalls().isEmpty()) {
                        toolCalls(g, c.toolCalls());
                    }
                    g.writeEndObject();
                } else {
                    g.writeStringField("text", c.text());
                }
                g.writeFieldName("logprobs");
                logprobs(g, topLogprobs < 0 ? null : c.tokens(), c.textOffsets(), topLogprobs);
                g.writeStringField("finish_reason", c.finishReason());
                g.writeEndObject();
            }
            g.writeEndArray();
            usage(g, usage);
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return buffer.toByteArray();
    }

    /** {@code {"error": {"message", "type", "param", "code"}}}. */
    public static byte[] errorBody(ApiException e) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeObjectFieldStart("error");
            g.writeStringField("message", e.getMessage());
            g.writeStringField("type", e.type());
            g.writeStringField("param", e.param());
            g.writeStringField("code", e.code());
            g.writeEndObject();
            g.writeEndObject();
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        return out.toByteArray();
    }

    /** {@code GET /v1/models}: one entry per model name. */
    public static byte[] models(List<String> names, long createdSeconds) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            g.writeStringField("object", "list");
            g.writeArrayFieldStart("data");
            for (String name : names) {
                g.writeStartObject();
                g.writeStringField("id", name);
                g.writeStringField("object", "model");
                g.writeNumberField("created", createdSeconds);
                g.writeStringField("owned_by", "tandem");
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        } catch (IOException ex) {
            throw new UncheckedIOException(ex);
        }
        return out.toByteArray();
    }

    /** {@code "tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}]}. */
    private static void toolCalls(JsonGenerator g, List<ChatMessage.ToolCall> calls) throws IOException {
        g.writeArrayFieldStart("tool_calls");
        for (ChatMessage.ToolCall call : calls) {
            g.writeStartObject();
            g.writeStringField("id", call.id());
            g.writeStringField("type", "function");
            g.writeObjectFieldStart("function");
            g.writeStringField("name", call.name());
            g.writeStringField("arguments", call.arguments());
            g.writeEndObject();
            g.writeEndObject();
        }
        g.writeEndArray();
    }

    private void header(JsonGenerator g, String object) throws IOException {
        g.writeStringField("id", id);
        g.writeStringField("object", object);
        g.writeNumberField("created", createdSeconds);
        g.writeStringField("model", model);
    }

    private static void usage(JsonGenerator g, Usage usage) throws IOException {
        g.writeObjectFieldStart("usage");
        g.writeNumberField("prompt_tokens", usage.promptTokens());
        g.writeNumberField("completion_tokens", usage.completionTokens());
        g.writeNumberField("total_tokens", usage.totalTokens());
        g.writeObjectFieldStart("prompt_tokens_details");
        g.writeNumberField("cached_tokens", usage.cachedPromptTokens());
        if (usage.transferredPromptTokens() > 0) {
            g.writeNumberField("transferred_tokens", usage.transferredPromptTokens());
        }
        g.writeEndObject();
        g.writeEndObject();
    }

    private void logprobs(JsonGenerator g, List<GeneratedToken> tokens, List<Integer> textOffsets, int topLogprobs)
            throws IOException {
        if (tokens == null) {
            g.writeNull();
        } else if (endpoint == Endpoint.CHAT) {
            chatLogprobs(g, tokens, topLogprobs);
        } else {
            completionLogprobs(g, tokens, textOffsets, topLogprobs);
        }
    }

    /** {@code {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}], "refusal": null}}. */
    private void chatLogprobs(JsonGenerator g, List<GeneratedToken> tokens, int topLogprobs) throws IOException {
        g.writeStartObject();
        g.writeArrayFieldStart("content");
        for (GeneratedToken t : tokens) {
            g.writeStartObject();
            tokenEntry(g, t.tokenId(), t.logprob());
            g.writeArrayFieldStart("top_logprobs");
            int k = Math.min(topLogprobs, t.topIds().length);
            for (int i = 0; i < k; i++) {
                g.writeStartObject();
                tokenEntry(g, t.topIds()[i], t.topLogprobs()[i]);
                g.writeEndObject();
            }
            g.writeEndArray();
            g.writeEndObject();
        }
        g.writeEndArray();
        g.writeNullField("refusal");
        g.writeEndObject();
    }

    private void tokenEntry(JsonGenerator g, int tokenId, float logprob) throws IOException {
        g.writeStringField("token", text.tokenText(tokenId));
        g.writeNumberField("logprob", finite(logprob));
        g.writeArrayFieldStart("bytes");
        for (byte b : text.tokenBytes(tokenId)) {
            g.writeNumber(b & 0xFF);
        }
        g.writeEndArray();
    }

    /** {@code {"tokens", "token_logprobs", "top_logprobs", "text_offset"}} (legacy completions). */
    private void completionLogprobs(JsonGenerator g, List<GeneratedToken> tokens, List<Integer> textOffsets,
                                    int topLogprobs) throws IOException {
        g.writeStartObject();
        g.writeArrayFieldStart("tokens");
        for (GeneratedToken t : tokens) {
            g.writeString(text.tokenText(t.tokenId()));
        }
        g.writeEndArray();
        g.writeArrayFieldStart("token_logprobs");
        for (GeneratedToken t : tokens) {
            g.writeNumber(finite(t.logprob()));
        }
        g.writeEndArray();
        if (topLogprobs > 0) {
            g.writeArrayFieldStart("top_logprobs");
            for (GeneratedToken t : tokens) {
                g.writeStartObject();
                int k = Math.min(topLogprobs, t.topIds().length);
                for (int i = 0; i < k; i++) {
                    g.writeNumberField(text.tokenText(t.topIds()[i]), finite(t.topLogprobs()[i]));
                }
                g.writeEndObject();
            }
            g.writeEndArray();
        } else {
            g.writeNullField("top_logprobs");
        }
        g.writeArrayFieldStart("text_offset");
        for (int offset : textOffsets) {
            g.writeNumber(offset);
        }
        g.writeEndArray();
        g.writeEndObject();
    }

    private static double finite(float logprob) {
        return Float.isFinite(logprob) ? logprob : MIN_LOGPROB;
    }
}
