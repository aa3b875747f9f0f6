package dev.tandem.runtime.events;

import dev.tandem.core.ConfigException;
import dev.tandem.core.TandemException;
import dev.tandem.runtime.RuntimeConfig;
import io.nats.client.Connection;
import io.nats.client.ConnectionListener;
import io.nats.client.Consumer;
import io.nats.client.Dispatcher;
import io.nats.client.ErrorListener;
import io.nats.client.Nats;
import io.nats.client.Options;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * An {@link EventBus} on a NATS server (core NATS, no JetStream: at-most-once is what the event
 * plane needs, since gaps are detected by numbering and repaired by snapshot).
 *
 * <h2>Design</h2>
 * One connection per process, reconnecting forever with a fixed pause
 * ({@code eventsReconnectWaitMs}); subscriptions are restored by jnats after a reconnect. The
 * reconnect buffer is disabled and {@link #publish} checks the connection first, so nothing is
 * queued while disconnected: a publish then returns false and the message is dropped. Each
 * subscription has its own jnats dispatcher (one thread), so a slow handler holds up only itself.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use.
 */
public final class NatsEventBus implements EventBus {
    private static final System.Logger LOG = System.getLogger(NatsEventBus.class.getName());

    private final Connection connection;
    private final String url;
    private final Set<Dispatcher> dispatchers = ConcurrentHashMap.newKeySet();

    private NatsEventBus(Connection connection, String url) {
        this.connection = connection;
        this.url = url;
    }

    /**
     * Connects within {@code eventsConnectTimeoutMs}.
     *
     * @param url {@code nats://host:port} (comma-separated for a cluster)
     * @throws ConfigException if the URL is malformed
     * @throws TandemException if no server answers
     */
    public static NatsEventBus connect(String url, String connectionName, RuntimeConfig config) {
        String[] servers = parseUrls(url);
        Options options = Options.builder()
                .servers(servers)
                .connectionName(connectionName)
                .connectionTimeout(Duration.ofMillis(config.eventsConnectTimeoutMs()))
                .reconnectWait(Duration.ofMillis(config.eventsReconnectWaitMs()))
                .maxReconnects(-1)
                .reconnectBufferSize(0)
                .pingInterval(Duration.ofSeconds(5))
                .connectionListener(new Lifecycle(url))
                .errorListener(new Errors(url))
                .build();
        try {
            Connection c = Nats.connect(options);
            LOG.log(INFO, "connected to NATS at {0} as {1}", url, connectionName);
            return new NatsEventBus(c, url);
        } catch (IOException e) {
            throw new TandemException("cannot connect to NATS at " + url + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TandemException("interrupted while connecting to NATS at " + url, e);
        }
    }

    static String[] parseUrls(String url) {
        if (url == null || url.isBlank()) {
            throw new ConfigException("NATS URL is empty (expected nats://host:port)");
        }
        String[] parts = url.split(",");
        for (int i = 0; i < parts.length; i++) {
            parts[i] = parts[i].trim();
            URI uri;
            try {
                uri = URI.create(parts[i]);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("NATS URL '" + parts[i] + "' is malformed: " + e.getMessage());
            }
            if (!"nats".equals(uri.getScheme()) || uri.getHost() == null || uri.getPort() < 1) {
                throw new ConfigException("NATS URL '" + parts[i] + "' must look like nats://host:port");
            }
        }
        return parts;
    }

    @Override
    public boolean publish(String subject, byte[] payload) {
        Subjects.checkLiteral(subject);
        if (connection.getStatus() != Connection.Status.CONNECTED) {
            return false;
        }
        try {
            connection.publish(subject, payload);
            return true;
        } catch (IllegalStateException e) {
            return false; // disconnected (or closed) between the check and the write
        } catch (IllegalArgumentException e) {
            LOG.log(WARNING, "dropping a {0}-byte message on {1}: {2}", payload.length, subject, e.getMessage());
            return false;
        }
    }

    @Override
    public EventSubscription subscribe(String subjectPattern, EventHandler handler) {
        Subjects.checkPattern(subjectPattern);
        Dispatcher d = connection.createDispatcher(guard(subjectPattern, handler));
        d.subscribe(subjectPattern);
        dispatchers.add(d);
        return () -> {
            if (dispatchers.remove(d)) {
                connection.closeDispatcher(d);
            }
        };
    }

    private static io.nats.client.MessageHandler guard(String pattern, EventHandler handler) {
        return msg -> {
            try {
                handler.onMessage(msg.getSubject(), msg.getData());
            } catch (RuntimeException e) {
                LOG.log(WARNING, "handler of " + pattern + " failed on " + msg.getSubject() + "; continuing", e);
            }
        };
    }

    @Override
    public boolean isConnected() {
        return connection.getStatus() == Connection.Status.CONNECTED;
    }

    /** Flushes pending publishes to the server (tests; shutdown). */
    public void flush(Duration timeout) {
        try {
            connection.flush(timeout);
        } catch (java.util.concurrent.TimeoutException | InterruptedException | IllegalStateException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new TandemException("NATS at " + url + ": flush failed: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            connection.close();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        dispatchers.clear();
    }

    /**
     * Logs connection lifecycle once per transition (jnats reports DISCONNECTED again after every
     * failed reconnect attempt): losing the server is a warning, getting it back is info.
     */
    private record Lifecycle(String url, java.util.concurrent.atomic.AtomicBoolean down) implements ConnectionListener {
        Lifecycle(String url) {
            this(url, new java.util.concurrent.atomic.AtomicBoolean());
        }

        @Override
        @SuppressWarnings("deprecation") // abstract in jnats, superseded by the four-argument form below
        public void connectionEvent(Connection conn, Events type) {
            connectionEvent(conn, type, null, null);
        }

        @Override
        public void connectionEvent(Connection conn, Events type, Long time, String uriDetails) {
            switch (type) {
                case DISCONNECTED -> {
                    if (down.compareAndSet(false, true)) {
                        LOG.log(WARNING, "lost NATS at {0}; events are dropped until it reconnects", url);
                    }
                }
                case RECONNECTED -> {
                    down.set(false);
                    LOG.log(INFO, "reconnected to NATS at {0}", url);
                }
                case CLOSED -> LOG.log(INFO, "NATS connection to {0} closed", url);
                default -> {
                }
            }
        }
    }

    private record Errors(String url) implements ErrorListener {
        @Override
        public void errorOccurred(Connection conn, String error) {
            LOG.log(WARNING, "NATS at {0}: {1}", url, error);
        }

        @Override
        public void exceptionOccurred(Connection conn, Exception exp) {
            LOG.log(System.Logger.Level.DEBUG, "NATS at " + url + ": " + exp.getMessage());
        }

        @Override
        public void slowConsumerDetected(Connection conn, Consumer consumer) {
            LOG.log(WARNING, "NATS at {0}: a subscriber is too slow; messages were dropped", url);
        }
    }
}
