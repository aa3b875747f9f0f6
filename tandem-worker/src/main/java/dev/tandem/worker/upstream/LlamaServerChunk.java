package dev.tandem.worker.upstream;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import java.io.IOException;
import java.util.Arrays;

/**
 * One streamed chunk of llama-server's {@code POST /completion}, read with Jackson's streaming
 * parser: only the fields Tandem uses are converted (the last chunk carries about 2 KB of echoed
 * settings, most of them floating-point numbers, that a whole tree would parse on every request).
 *
 * @param tokens      the chunk's token ids
 * @param probs       {@code completion_probabilities} (present when {@code n_probs} was asked), else missing
 * @param stop        true on the last chunk
 * @param limit       the last chunk ended at the token budget ({@code stop_type: limit} or {@code truncated})
 * @param cachedTokens {@code timings.cache_n}: prompt tokens served from the server's cache; -1 when absent
 * @param error       an {@code error} object the server sent inside the stream, else null
 */
record LlamaServerChunk(int[] tokens, JsonNode probs, boolean stop, boolean limit, int cachedTokens,
                        JsonNode error) {

    /**
     * @throws IOException the text is not a JSON object, or a token id is not an integer
     */
    static LlamaServerChunk parse(String json, ObjectMapper mapper) throws IOException {
        int[] tokens = new int[0];
        JsonNode probs = MissingNode.getInstance();
        boolean stop = false;
        boolean truncated = false;
        String stopType = "";
        int cached = -1;
        JsonNode error = null;
        try (JsonParser p = mapper.createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("not an object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken value = p.nextToken();
                switch (field) {
                    case "tokens" -> tokens = ids(p, value);
                    case "completion_probabilities" -> probs = mapper.readTree(p);
                    case "error" -> error = mapper.readTree(p);
                    case "stop" -> stop = value == JsonToken.VALUE_TRUE;
                    case "truncated" -> truncated = value == JsonToken.VALUE_TRUE;
                    case "stop_type" -> stopType = value == JsonToken.VALUE_STRING ? p.getText() : "";
                    case "timings" -> cached = cacheN(p, value);
                    default -> p.skipChildren();
                }
            }
            if (p.currentToken() != JsonToken.END_OBJECT) {
                throw new IOException("not an object");
            }
        }
        return new LlamaServerChunk(tokens, probs, stop, stopType.equals("limit") || truncated, cached, error);
    }

    private static int[] ids(JsonParser p, JsonToken value) throws IOException {
        if (value != JsonToken.START_ARRAY) {
            throw new IOException("tokens is not an array");
        }
        int[] ids = new int[4];
        int n = 0;
        for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
            if (t != JsonToken.VALUE_NUMBER_INT || p.getNumberType() != JsonParser.NumberType.INT) {
                throw new IOException("token id " + p.getText());
            }
            if (n == ids.length) {
                ids = Arrays.copyOf(ids, n * 2);
            }
            ids[n++] = p.getIntValue();
        }
        return Arrays.copyOf(ids, n);
    }

    private static int cacheN(JsonParser p, JsonToken value) throws IOException {
        if (value != JsonToken.START_OBJECT) {
            p.skipChildren();
            return -1;
        }
        int cached = -1;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken v = p.nextToken();
            if (field.equals("cache_n") && v == JsonToken.VALUE_NUMBER_INT) {
                cached = p.getIntValue();
            } else {
                p.skipChildren();
            }
        }
        return cached;
    }
}
