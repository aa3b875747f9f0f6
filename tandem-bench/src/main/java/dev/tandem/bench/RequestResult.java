package dev.tandem.bench;

/**
 * What happened to one request: times on the {@link System#nanoTime()} scale, token counts from
 * the server's usage (or -1 when it reported none), the reply text, and the error if it failed.
 * Immutable.
 *
 * <p>Definitions (the same as vLLM's and SGLang's serving benchmarks):
 * <ul>
 *   <li>TTFT: from sending the request to the first chunk that carries generated text;</li>
 *   <li>ITL: the gaps between consecutive text-carrying chunks (a chunk that carries several
 *       tokens counts as one arrival);</li>
 *   <li>TPOT: (end-to-end - TTFT) / (output tokens - 1), defined for 2 or more output tokens;</li>
 *   <li>end-to-end: from sending to the end of the stream ({@code [DONE]}).</li>
 * </ul>
 */
public final class RequestResult {
    /** Error types besides {@code http_<status>}. */
    public static final String TIMEOUT = "timeout";
    public static final String CONNECTION = "connection";
    public static final String PROTOCOL = "protocol";
    public static final String STREAM_ERROR = "stream_error";
    public static final String TRUNCATED = "truncated";

    private final int sessionId;
    private final int turn;
    private final long scheduledNs;
    private final long startNs;
    private final long endNs;
    private final long[] chunkNs; // arrival time of each text-carrying chunk, ascending
    private final int promptTokens;
    private final int completionTokens;
    private final int cachedTokens;
    private final String reply;
    private final String errorType;
    private final int httpStatus;
    private final String errorMessage;

    private RequestResult(Builder b) {
        this.sessionId = b.sessionId;
        this.turn = b.turn;
        this.scheduledNs = b.scheduledNs;
        this.startNs = b.startNs;
        this.endNs = b.endNs;
        this.chunkNs = b.chunkNs.clone();
        this.promptTokens = b.promptTokens;
        this.completionTokens = b.completionTokens;
        this.cachedTokens = b.cachedTokens;
        this.reply = b.reply;
        this.errorType = b.errorType;
        this.httpStatus = b.httpStatus;
        this.errorMessage = b.errorMessage;
    }

    public static Builder builder(int sessionId, int turn, long startNs) {
        return new Builder(sessionId, turn, startNs);
    }

    public int sessionId() {
        return sessionId;
    }

    public int turn() {
        return turn;
    }

    public boolean ok() {
        return errorType == null;
    }

    /** Null when the request succeeded; else {@code http_<status>}, {@link #TIMEOUT}, {@link #CONNECTION}, ... */
    public String errorType() {
        return errorType;
    }

    public String errorMessage() {
        return errorMessage;
    }

    /** The HTTP status, or 0 when no response arrived. */
    public int httpStatus() {
        return httpStatus;
    }

    public long scheduledNs() {
        return scheduledNs;
    }

    public long startNs() {
        return startNs;
    }

    public long endNs() {
        return endNs;
    }

    /** How late the request left compared with its arrival time, ns (&gt;= 0). */
    public long dispatchLagNs() {
        return Math.max(0, startNs - scheduledNs);
    }

    public long e2eNs() {
        return endNs - startNs;
    }

    /** Time to the first text-carrying chunk, or -1 when none arrived. */
    public long ttftNs() {
        return chunkNs.length == 0 ? -1 : chunkNs[0] - startNs;
    }

    /** Gaps between consecutive text-carrying chunks, ns. */
    public long[] itlNs() {
        long[] gaps = new long[Math.max(0, chunkNs.length - 1)];
        for (int i = 0; i < gaps.length; i++) {
            gaps[i] = chunkNs[i + 1] - chunkNs[i];
        }
        return gaps;
    }

    /** Text-carrying chunks received. */
    public int contentChunks() {
        return chunkNs.length;
    }

    /** Prompt tokens from the usage, or -1. */
    public int promptTokens() {
        return promptTokens;
    }

    /** Completion tokens from the usage, or -1. */
    public int completionTokens() {
        return completionTokens;
    }

    /** Output tokens: the usage's count, else the number of text-carrying chunks. */
    public int outputTokens() {
        return completionTokens >= 0 ? completionTokens : chunkNs.length;
    }

    /** {@code usage.prompt_tokens_details.cached_tokens}, or -1 when the server did not report it. */
    public int cachedTokens() {
        return cachedTokens;
    }

    /** Time per output token after the first, ns, or -1 with fewer than 2 output tokens. */
    public double tpotNs() {
        int n = outputTokens();
        long ttft = ttftNs();
        return n < 2 || ttft < 0 ? -1 : (double) (e2eNs() - ttft) / (n - 1);
    }

    /** The generated text. */
    public String reply() {
        return reply;
    }

    @Override
    public String toString() {
        return "RequestResult[session=" + sessionId + ", turn=" + turn + (ok() ? "" : ", error=" + errorType)
                + ", ttftMs=" + ttftNs() / 1e6 + ", e2eMs=" + e2eNs() / 1e6 + ", out=" + outputTokens() + "]";
    }

    /** Collects a result; not thread-safe. */
    public static final class Builder {
        private final int sessionId;
        private final int turn;
        private final long startNs;
        private long scheduledNs;
        private long endNs;
        private long[] chunkNs = new long[0];
        private int promptTokens = -1;
        private int completionTokens = -1;
        private int cachedTokens = -1;
        private String reply = "";
        private String errorType;
        private int httpStatus;
        private String errorMessage;

        private Builder(int sessionId, int turn, long startNs) {
            this.sessionId = sessionId;
            this.turn = turn;
            this.startNs = startNs;
            this.scheduledNs = startNs;
            this.endNs = startNs;
        }

        public Builder scheduledNs(long v) {
            scheduledNs = v;
            return this;
        }

        public Builder endNs(long v) {
            endNs = v;
            return this;
        }

        public Builder chunkNs(long... v) {
            chunkNs = v.clone();
            return this;
        }

        public Builder usage(int prompt, int completion, int cached) {
            promptTokens = prompt;
            completionTokens = completion;
            cachedTokens = cached;
            return this;
        }

        public Builder reply(String v) {
            reply = v;
            return this;
        }

        public Builder httpStatus(int v) {
            httpStatus = v;
            return this;
        }

        public Builder error(String type, String message) {
            errorType = type;
            errorMessage = message;
            return this;
        }

        public RequestResult build() {
            return new RequestResult(this);
        }
    }
}
