package dev.tandem.core;

import java.util.Objects;

/**
 * A constraint on the generated text: it must be {@code prefix}, then one JSON value valid for
 * {@code jsonSchema}, then {@code suffix}, and nothing else. The engine compiles it into a
 * grammar over its vocabulary and masks every token that would leave the grammar; generation
 * stops when the grammar is complete.
 *
 * <p>JSON mode ({@code response_format: json_object}) is the schema {@code {"type":"object"}};
 * a forced tool call wraps the function's schema in the model family's tool-call syntax through
 * {@code prefix} and {@code suffix} (e.g. {@code <tool_call>} ... {@code </tool_call>}).
 *
 * @param jsonSchema     a JSON Schema document, as JSON text (the engine says which keywords it
 *                       supports)
 * @param prefix         literal text before the value; may be empty
 * @param suffix         literal text after the value; may be empty
 * @param replayedTokens how many of the request's last prompt tokens were generated under this
 *                       constraint already (a request moved to another worker resumes with
 *                       them in its prompt; the grammar state is rebuilt by replaying them)
 */
public record OutputConstraint(String jsonSchema, String prefix, String suffix, int replayedTokens) {
    /** The schema of JSON mode: any JSON object. */
    public static final String ANY_OBJECT_SCHEMA = "{\"type\":\"object\"}";

    public OutputConstraint {
        Objects.requireNonNull(jsonSchema, "jsonSchema");
        Objects.requireNonNull(prefix, "prefix");
        Objects.requireNonNull(suffix, "suffix");
        if (replayedTokens < 0) {
            throw new IllegalArgumentException("replayedTokens " + replayedTokens);
        }
    }

    /** One JSON value for {@code jsonSchema}, nothing around it. */
    public static OutputConstraint jsonSchema(String jsonSchema) {
        return new OutputConstraint(jsonSchema, "", "", 0);
    }

    /** The same constraint with {@code n} generated tokens to replay. */
    public OutputConstraint withReplayedTokens(int n) {
        return new OutputConstraint(jsonSchema, prefix, suffix, n);
    }

    /** The same constraint without tokens to replay: the key of its compiled grammar. */
    public OutputConstraint grammarKey() {
        return replayedTokens == 0 ? this : withReplayedTokens(0);
    }
}
