package dev.tandem.frontend;

import dev.tandem.core.ConfigException;

/**
 * The frontend's settings, validated at construction. Keys in the {@code tandem.frontend.*}
 * namespace; the {@code tandem serve} / {@code tandem frontend} options set them.
 *
 * @param host             {@code tandem.frontend.host}: address to listen on; default 127.0.0.1
 * @param port             {@code tandem.frontend.port}: TCP port, 0 for an ephemeral one; default 8000
 * @param apiKey           {@code tandem.frontend.api-key}: when set, {@code /v1/*} needs
 *                         {@code Authorization: Bearer <key>}; default none
 * @param maxRunning       {@code tandem.frontend.max-running}: most engine sequences admitted at once
 *                         (each choice of each prompt is one); default 256, range [1, 1_000_000]
 * @param maxQueued        {@code tandem.frontend.max-queued}: most requests waiting for admission;
 *                         one more gets 429; default 1024, range [0, 1_000_000]
 * @param maxBodyBytes     {@code tandem.frontend.max-body-bytes}: largest request body; a larger one
 *                         gets 413; default 4 MiB, range [1 KiB, 1 GiB]
 * @param queueTimeoutMs   {@code tandem.frontend.queue-timeout-ms}: longest wait for admission
 *                         before 503; default 60 000 ms
 * @param tokenTimeoutMs   {@code tandem.frontend.token-timeout-ms}: longest silence from a worker
 *                         (first token or between tokens) before the request fails; default 300 000 ms
 * @param readTimeoutMs    {@code tandem.frontend.read-timeout-ms}: longest time to receive a request's
 *                         headers after its request line, and its body; a slower client's connection
 *                         is closed (after a 408 for a late body); default 30 000 ms
 * @param shutdownGraceMs  {@code tandem.frontend.shutdown-grace-ms}: how long a shutdown lets
 *                         in-flight requests finish before cancelling them; default 5 000 ms
 * @param maxConnections   {@code tandem.frontend.max-connections}: most open client connections; more
 *                         wait in the listen backlog until one closes; default 4096, range [1, 1_000_000]
 * @param idleTimeoutMs    {@code tandem.frontend.idle-timeout-ms}: a connection that has not started a
 *                         request line (idle keep-alive, or half-open) this long is closed; default 60 000 ms
 * @param maxConnectionsPerClient {@code tandem.frontend.max-connections-per-client}: most open
 *                         connections from one client address; one more gets 429 and is closed; 0 for no
 *                         limit; default 512
 */
public record FrontendConfig(String host, int port, String apiKey, int maxRunning, int maxQueued,
                             long maxBodyBytes, long queueTimeoutMs, long tokenTimeoutMs, long readTimeoutMs,
                             long shutdownGraceMs, int maxConnections, long idleTimeoutMs,
                             int maxConnectionsPerClient) {
    public static final String DEFAULT_HOST = "127.0.0.1";
    public static final int DEFAULT_PORT = 8000;
    public static final int DEFAULT_MAX_RUNNING = 256;
    public static final int DEFAULT_MAX_QUEUED = 1024;
    public static final long DEFAULT_MAX_BODY_BYTES = 4L << 20;
    public static final long DEFAULT_QUEUE_TIMEOUT_MS = 60_000;
    public static final long DEFAULT_TOKEN_TIMEOUT_MS = 300_000;
    public static final long DEFAULT_READ_TIMEOUT_MS = 30_000;
    public static final long DEFAULT_SHUTDOWN_GRACE_MS = 5_000;
    public static final int DEFAULT_MAX_CONNECTIONS = 4096;
    public static final long DEFAULT_IDLE_TIMEOUT_MS = 60_000;
    public static final int DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 512;

    public FrontendConfig {
        if (host == null || host.isBlank()) {
            throw new ConfigException("host must not be empty");
        }
        range("port", port, 0, 65535);
        if (apiKey != null && apiKey.isBlank()) {
            throw new ConfigException("api key must not be blank when set");
        }
        range("max-running", maxRunning, 1, 1_000_000);
        range("max-queued", maxQueued, 0, 1_000_000);
        range("max-body-bytes", maxBodyBytes, 1024, 1L << 30);
        range("queue-timeout-ms", queueTimeoutMs, 1, 86_400_000);
        range("token-timeout-ms", tokenTimeoutMs, 1, 86_400_000);
        range("read-timeout-ms", readTimeoutMs, 1, 86_400_000);
        range("shutdown-grace-ms", shutdownGraceMs, 0, 3_600_000);
        range("max-connections", maxConnections, 1, 1_000_000);
        range("idle-timeout-ms", idleTimeoutMs, 100, 86_400_000);
        range("max-connections-per-client", maxConnectionsPerClient, 0, 1_000_000);
    }

    /** Every default: 127.0.0.1:8000, no API key. */
    public static FrontendConfig defaults() {
        return new FrontendConfig(DEFAULT_HOST, DEFAULT_PORT, null, DEFAULT_MAX_RUNNING, DEFAULT_MAX_QUEUED,
                DEFAULT_MAX_BODY_BYTES, DEFAULT_QUEUE_TIMEOUT_MS, DEFAULT_TOKEN_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS,
                DEFAULT_SHUTDOWN_GRACE_MS, DEFAULT_MAX_CONNECTIONS, DEFAULT_IDLE_TIMEOUT_MS,
                DEFAULT_MAX_CONNECTIONS_PER_CLIENT);
    }

    public FrontendConfig withPort(int p) {
        return new FrontendConfig(host, p, apiKey, maxRunning, maxQueued, maxBodyBytes, queueTimeoutMs,
                tokenTimeoutMs, readTimeoutMs, shutdownGraceMs, maxConnections, idleTimeoutMs,
                maxConnectionsPerClient);
    }

    public FrontendConfig withHost(String h) {
        return new FrontendConfig(h, port, apiKey, maxRunning, maxQueued, maxBodyBytes, queueTimeoutMs,
                tokenTimeoutMs, readTimeoutMs, shutdownGraceMs, maxConnections, idleTimeoutMs,
                maxConnectionsPerClient);
    }

    public FrontendConfig withApiKey(String key) {
        return new FrontendConfig(host, port, key, maxRunning, maxQueued, maxBodyBytes, queueTimeoutMs,
                tokenTimeoutMs, readTimeoutMs, shutdownGraceMs, maxConnections, idleTimeoutMs,
                maxConnectionsPerClient);
    }

    public FrontendConfig withAdmission(int running, int queued) {
        return new FrontendConfig(host, port, apiKey, running, queued, maxBodyBytes, queueTimeoutMs,
                tokenTimeoutMs, readTimeoutMs, shutdownGraceMs, maxConnections, idleTimeoutMs,
                maxConnectionsPerClient);
    }

    public FrontendConfig withMaxBodyBytes(long bytes) {
        return new FrontendConfig(host, port, apiKey, maxRunning, maxQueued, bytes, queueTimeoutMs,
                tokenTimeoutMs, readTimeoutMs, shutdownGraceMs, maxConnections, idleTimeoutMs,
                maxConnectionsPerClient);
    }

    public FrontendConfig withTimeouts(long queueMs, long tokenMs, long readMs) {
        return new FrontendConfig(host, port, apiKey, maxRunning, maxQueued, maxBodyBytes, queueMs, tokenMs,
                readMs, shutdownGraceMs, maxConnections, idleTimeoutMs,
                maxConnectionsPerClient);
    }

    public FrontendConfig withShutdownGraceMs(long ms) {
        return new FrontendConfig(host, port, apiKey, maxRunning, maxQueued, maxBodyBytes, queueTimeoutMs,
                tokenTimeoutMs, readTimeoutMs, ms, maxConnections, idleTimeoutMs,
                maxConnectionsPerClient);
    }

    /** At most {@code max} open connections; idle ones closed after {@code idleMs}. */
    public FrontendConfig withConnections(int max, long idleMs) {
        return new FrontendConfig(host, port, apiKey, maxRunning, maxQueued, maxBodyBytes, queueTimeoutMs,
                tokenTimeoutMs, readTimeoutMs, shutdownGraceMs, max, idleMs, maxConnectionsPerClient);
    }

    /** At most {@code max} open connections from one client address (0: no per-client limit). */
    public FrontendConfig withMaxConnectionsPerClient(int max) {
        return new FrontendConfig(host, port, apiKey, maxRunning, maxQueued, maxBodyBytes, queueTimeoutMs,
                tokenTimeoutMs, readTimeoutMs, shutdownGraceMs, maxConnections, idleTimeoutMs, max);
    }

    /** The request body read timeout (408 past it), ms. */
    public FrontendConfig withReadTimeoutMs(long ms) {
        return new FrontendConfig(host, port, apiKey, maxRunning, maxQueued, maxBodyBytes, queueTimeoutMs,
                tokenTimeoutMs, ms, shutdownGraceMs, maxConnections, idleTimeoutMs,
                maxConnectionsPerClient);
    }

    private static void range(String name, long value, long min, long max) {
        if (value < min || value > max) {
            throw new ConfigException(name + " must be in [" + min + ", " + max + "], got " + value);
        }
    }
}
