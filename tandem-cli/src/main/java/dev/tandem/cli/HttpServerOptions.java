package dev.tandem.cli;

import dev.tandem.frontend.FrontendConfig;
import picocli.CommandLine.Option;

/** The OpenAI HTTP server's options, shared by {@code serve} and {@code frontend}. */
final class HttpServerOptions {
    @Option(names = "--host", defaultValue = FrontendConfig.DEFAULT_HOST, description = "listen address (default: ${DEFAULT-VALUE})")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "listen port, 0 for any free one (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--api-key", defaultValue = "${env:TANDEM_API_KEY}",
            description = "require 'Authorization: Bearer KEY' on /v1 (default: $TANDEM_API_KEY, else none)")
    String apiKey;

    @Option(names = "--max-queued", defaultValue = "1024",
            description = "requests that may wait for admission; more get 429 (default: ${DEFAULT-VALUE})")
    int maxQueued;

    @Option(names = "--max-body-bytes", defaultValue = "4194304",
            description = "largest request body; larger ones get 413 (default: ${DEFAULT-VALUE})")
    long maxBodyBytes;

    @Option(names = "--read-timeout-ms", defaultValue = "30000",
            description = "request headers (after the request line) or a body not received within this time: "
                    + "the connection is closed, with 408 for a late body (default: ${DEFAULT-VALUE})")
    long readTimeoutMs;

    @Option(names = "--idle-timeout-ms", defaultValue = "60000",
            description = "a connection with no request started (idle keep-alive, half-sent request line) is "
                    + "closed after this time (default: ${DEFAULT-VALUE})")
    long idleTimeoutMs;

    @Option(names = "--max-connections", defaultValue = "4096",
            description = "most open client connections; more wait until one closes (default: ${DEFAULT-VALUE})")
    int maxConnections;

    @Option(names = "--max-connections-per-client", defaultValue = "512",
            description = "most open connections from one client address; one more gets 429 and is closed; "
                    + "0 for no limit (default: ${DEFAULT-VALUE})")
    int maxConnectionsPerClient;

    @Option(names = "--shutdown-grace-ms", defaultValue = "5000",
            description = "how long Ctrl-C lets running requests finish before cancelling them (default: ${DEFAULT-VALUE})")
    long shutdownGraceMs;

    /** The server's configuration, admitting {@code maxRunning} engine sequences at once. */
    FrontendConfig config(int maxRunning) {
        return FrontendConfig.defaults().withHost(host).withPort(port)
                .withApiKey(apiKey == null || apiKey.isBlank() ? null : apiKey)
                .withAdmission(maxRunning, maxQueued)
                .withMaxBodyBytes(maxBodyBytes)
                .withReadTimeoutMs(readTimeoutMs)
                .withConnections(maxConnections, idleTimeoutMs)
                .withMaxConnectionsPerClient(maxConnectionsPerClient)
                .withShutdownGraceMs(shutdownGraceMs);
    }
}
