package dev.tandem.worker.upstream;

import dev.tandem.core.ConfigException;
import dev.tandem.runtime.kvevents.VllmKvEventSubscriber;
import java.net.URI;
import java.net.URISyntaxException;

/**
 * How an upstream engine reaches its server.
 *
 * @param baseUri          the server, {@code http://host:port} (a path prefix is kept: {@code http://h/llm})
 * @param kind             the server's kind, or null to detect it at start
 * @param connectTimeoutMs deadline of opening a connection, ms
 * @param headersTimeoutMs deadline of a request's response headers (the server accepted it), ms
 * @param requestTimeoutMs deadline of a whole request, first byte to last token, ms
 * @param pollIntervalMs   how often {@code /metrics} (or {@code /health}) is read, ms; it is also
 *                         the liveness probe
 * @param startTimeoutMs   how long start keeps trying to reach the server, ms
 */
public record UpstreamConfig(URI baseUri, UpstreamKind kind, long connectTimeoutMs, long headersTimeoutMs,
                             long requestTimeoutMs, long pollIntervalMs, long startTimeoutMs,
                             VllmKvEventSubscriber.Config kvEvents) {

    public static final long DEFAULT_CONNECT_TIMEOUT_MS = 2_000;
    public static final long DEFAULT_HEADERS_TIMEOUT_MS = 60_000;
    public static final long DEFAULT_REQUEST_TIMEOUT_MS = 600_000;
    public static final long DEFAULT_POLL_INTERVAL_MS = 500;
    public static final long DEFAULT_START_TIMEOUT_MS = 30_000;

    public UpstreamConfig {
        if (baseUri == null || baseUri.getHost() == null
                || !("http".equals(baseUri.getScheme()) || "https".equals(baseUri.getScheme()))) {
            throw new ConfigException("--upstream must be an http(s)://host:port URL, got '" + baseUri + "'");
        }
        positive(connectTimeoutMs, "connect timeout");
        positive(headersTimeoutMs, "headers timeout");
        positive(requestTimeoutMs, "request timeout");
        positive(pollIntervalMs, "poll interval");
        positive(startTimeoutMs, "start timeout");
    }

    /** The defaults for the server at {@code url}, kind detected. */
    public static UpstreamConfig of(String url, UpstreamKind kind) {
        URI uri;
        try {
            uri = new URI(url == null ? "" : url.trim().replaceAll("/+$", ""));
        } catch (URISyntaxException e) {
            throw new ConfigException("--upstream must be an http(s)://host:port URL, got '" + url + "'");
        }
        return new UpstreamConfig(uri, kind, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_HEADERS_TIMEOUT_MS,
                DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_POLL_INTERVAL_MS, DEFAULT_START_TIMEOUT_MS, null);
    }

    public UpstreamConfig withKind(UpstreamKind k) {
        return new UpstreamConfig(baseUri, k, connectTimeoutMs, headersTimeoutMs, requestTimeoutMs, pollIntervalMs,
                startTimeoutMs, kvEvents);
    }

    public UpstreamConfig withTimeouts(long connectMs, long headersMs, long requestMs) {
        return new UpstreamConfig(baseUri, kind, connectMs, headersMs, requestMs, pollIntervalMs, startTimeoutMs,
                kvEvents);
    }

    public UpstreamConfig withPolling(long intervalMs, long startMs) {
        return new UpstreamConfig(baseUri, kind, connectTimeoutMs, headersTimeoutMs, requestTimeoutMs, intervalMs,
                startMs, kvEvents);
    }

    /**
     * The server's own KV events (vLLM's or SGLang's ZeroMQ publisher, {@code --kv-events-config}),
     * announced in Tandem's hashes instead of the engine's approximate ones; null for none.
     */
    public UpstreamConfig withKvEvents(VllmKvEventSubscriber.Config events) {
        return new UpstreamConfig(baseUri, kind, connectTimeoutMs, headersTimeoutMs, requestTimeoutMs, pollIntervalMs,
                startTimeoutMs, events);
    }

    /**
     * The feed of the server's own KV events for worker {@code workerId} at {@code blockSizeTokens}
     * tokens a block, or null when the server publishes none (see {@link #withKvEvents}).
     */
    public KvEventFeed kvEventFeed(String workerId, int blockSizeTokens) {
        if (kvEvents == null) {
            return null;
        }
        return listener -> VllmKvEventSubscriber.start(workerId, kvEvents, blockSizeTokens, listener);
    }

    /** {@code path} (starting with '/') on the server. */
    public URI resolve(String path) {
        return URI.create(baseUri.toString() + path);
    }

    private static void positive(long v, String what) {
        if (v < 1) {
            throw new ConfigException("upstream " + what + " must be at least 1 ms, got " + v);
        }
    }
}
