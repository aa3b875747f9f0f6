package dev.tandem.frontend;

import io.helidon.common.buffers.BufferData;
import io.helidon.common.concurrency.limits.Limit;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.http1.Http1Config;
import io.helidon.webserver.http1.Http1ConnectionSelector;
import io.helidon.webserver.spi.ServerConnection;
import io.helidon.webserver.spi.ServerConnectionSelector;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * HTTP/1 connections with at most {@code limit} open at once per client address: the one more
 * is answered 429 and closed, so one client cannot hold the whole {@code --max-connections}
 * budget (or the process's file descriptors).
 *
 * <p>It wraps Helidon's HTTP/1 connection selector: a connection is counted from the moment its
 * first bytes identify it as HTTP/1 until its handler returns. A connection that never sends a
 * byte is not counted here; the idle timeout closes it.
 */
final class PerClientConnections implements ServerConnectionSelector {
    private static final System.Logger LOG = System.getLogger(PerClientConnections.class.getName());

    private final ServerConnectionSelector http1;
    private final int limit;
    private final Map<InetAddress, Integer> open = new ConcurrentHashMap<>();

    PerClientConnections(Http1Config config, int limit) {
        if (limit < 1) {
            throw new IllegalArgumentException("per-client connection limit must be positive, got " + limit);
        }
        this.http1 = Http1ConnectionSelector.builder().config(config).build();
        this.limit = limit;
    }

    @Override
    public int bytesToIdentifyConnection() {
        return http1.bytesToIdentifyConnection();
    }

    /**
     * Every connection: the frontend speaks only HTTP/1, and Helidon's HTTP/1 connection is what
     * answers a garbage request line, a TLS hello or an HTTP/2 preface with 400 (as Helidon does
     * itself when it has a single selector; with two, an unrecognised connection would be closed
     * without an answer).
     */
    @Override
    public Support supports(BufferData data) {
        return Support.SUPPORTED;
    }

    @Override
    public Set<String> supportedApplicationProtocols() {
        return http1.supportedApplicationProtocols();
    }

    @Override
    public ServerConnection connection(ConnectionContext ctx) {
        InetAddress client = clientOf(ctx.remotePeer().address());
        int now = open.merge(client, 1, Integer::sum);
        if (now > limit) {
            release(client);
            LOG.log(System.Logger.Level.INFO, "client {0} already holds {1} connections: 429, connection closed",
                    client.getHostAddress(), limit);
            return new Refused(ctx, limit);
        }
        return new Counted(http1.connection(ctx), client);
    }

    /** Connections open now from {@code client}. */
    int openFrom(InetAddress client) {
        return open.getOrDefault(client, 0);
    }

    private void release(InetAddress client) {
        open.computeIfPresent(client, (k, n) -> n > 1 ? n - 1 : null);
    }

    private static InetAddress clientOf(SocketAddress address) {
        return address instanceof InetSocketAddress inet && inet.getAddress() != null
                ? inet.getAddress() : InetAddress.getLoopbackAddress();
    }

    /** A counted connection: released when its handler returns, however it ends. */
    private final class Counted implements ServerConnection {
        private final ServerConnection delegate;
        private final InetAddress client;

        Counted(ServerConnection delegate, InetAddress client) {
            this.delegate = delegate;
            this.client = client;
        }

        @Override
        public void handle(Limit requestLimit) throws InterruptedException {
            try {
                delegate.handle(requestLimit);
            } finally {
                release(client);
            }
        }

        @Override
        public Duration idleTime() {
            return delegate.idleTime();
        }

        @Override
        public void close(boolean interrupt) {
            delegate.close(interrupt);
        }
    }

    /** The connection over the limit: one 429 in the OpenAI error shape, then the socket closes. */
    private static final class Refused implements ServerConnection {
        private final ConnectionContext ctx;
        private final int limit;

        Refused(ConnectionContext ctx, int limit) {
            this.ctx = ctx;
            this.limit = limit;
        }

        @Override
        public void handle(Limit requestLimit) {
            String body = "{\"error\":{\"message\":\"too many open connections from this client (at most " + limit
                    + ")\",\"type\":\"rate_limit_error\",\"param\":null,\"code\":\"too_many_connections\"}}";
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            String head = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: "
                    + bytes.length + "\r\nConnection: close\r\n\r\n";
            try {
                ctx.dataWriter().writeNow(BufferData.create(BufferData.create(head.getBytes(StandardCharsets.US_ASCII)),
                        BufferData.create(bytes)));
            } catch (RuntimeException e) {
                LOG.log(System.Logger.Level.DEBUG, "could not answer 429 to a client over its connection limit: {0}",
                        e.toString());
            }
        }

        @Override
        public Duration idleTime() {
            return Duration.ZERO;
        }

        @Override
        public void close(boolean interrupt) {
        }
    }
}
