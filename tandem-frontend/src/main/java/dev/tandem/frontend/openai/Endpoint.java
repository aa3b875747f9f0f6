package dev.tandem.frontend.openai;

/** The two generation endpoints, with the names their responses carry. */
public enum Endpoint {
    CHAT("/v1/chat/completions", "chat.completion", "chat.completion.chunk", "chatcmpl-"),
    COMPLETIONS("/v1/completions", "text_completion", "text_completion", "cmpl-");

    private final String path;
    private final String object;
    private final String chunkObject;
    private final String idPrefix;

    Endpoint(String path, String object, String chunkObject, String idPrefix) {
        this.path = path;
        this.object = object;
        this.chunkObject = chunkObject;
        this.idPrefix = idPrefix;
    }

    public String path() {
        return path;
    }

    /** The {@code object} of a whole response. */
    public String object() {
        return object;
    }

    /** The {@code object} of a streamed chunk. */
    public String chunkObject() {
        return chunkObject;
    }

    public String idPrefix() {
        return idPrefix;
    }

    /** Label value for metrics. */
    public String label() {
        return this == CHAT ? "chat" : "completions";
    }
}
