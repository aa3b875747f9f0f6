package dev.tandem.cli;

import dev.tandem.core.ConfigException;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EmbeddedEventBus;
import dev.tandem.runtime.events.EventBus;
import dev.tandem.runtime.events.EventHandler;
import dev.tandem.runtime.events.EventSubscription;
import dev.tandem.runtime.events.NatsEventBus;
import dev.tandem.runtime.registry.EmbeddedRegistry;
import dev.tandem.runtime.registry.EmbeddedRegistryStore;
import dev.tandem.runtime.registry.EtcdRegistry;
import dev.tandem.runtime.registry.Registry;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Turns the {@code --registry} and {@code --events} URLs of the distributed commands into a
 * {@link Registry} and an {@link EventBus}, and reads the runtime configuration.
 *
 * <ul>
 *   <li>{@code etcd://host:port[,host:port...]} (or {@code http://}): an etcd cluster.</li>
 *   <li>{@code nats://host:port[,...]}: a NATS server or cluster.</li>
 *   <li>{@code memory://name}: a registry or bus inside this JVM, shared by every command that
 *       names it in the same JVM (tests that run a frontend and workers on threads).</li>
 * </ul>
 */
final class RuntimeUrls {
    private static final String MEMORY = "memory://";
    /** In-JVM registries and buses by name; they live as long as the JVM. */
    private static final Map<String, EmbeddedRegistryStore> STORES = new ConcurrentHashMap<>();
    private static final Map<String, EmbeddedEventBus> BUSES = new ConcurrentHashMap<>();
    /** Period of the in-memory registry's lease clock, ms. */
    private static final long MEMORY_TICK_MS = 100;

    private RuntimeUrls() {
    }

    /**
     * Connects to the registry {@code url} names, trying again for up to {@code connectTimeoutMs}
     * (parts of a deployment often start together, and etcd may come up last).
     */
    static Registry registry(String url, RuntimeConfig config, long connectTimeoutMs) {
        return retrying("etcd at " + url, connectTimeoutMs, () -> registry(url, config));
    }

    /** Connects to the event bus {@code url} names, trying again for up to {@code connectTimeoutMs}. */
    static EventBus events(String url, String connectionName, RuntimeConfig config, long connectTimeoutMs) {
        return retrying("NATS at " + url, connectTimeoutMs, () -> events(url, connectionName, config));
    }

    /**
     * Calls {@code connect} until it succeeds or {@code timeoutMs} has passed; a configuration
     * error fails at once, the last connection error is thrown at the end.
     */
    static <T> T retrying(String what, long timeoutMs, java.util.function.Supplier<T> connect) {
        long deadline = System.nanoTime() + timeoutMs * 1_000_000L;
        long pauseMs = 200;
        for (int attempt = 1; ; attempt++) {
            try {
                return connect.get();
            } catch (ConfigException e) {
                throw e;
            } catch (dev.tandem.core.TandemException e) {
                if (System.nanoTime() + pauseMs * 1_000_000L - deadline > 0) {
                    throw e;
                }
                if (attempt == 1) {
                    System.getLogger(RuntimeUrls.class.getName()).log(System.Logger.Level.WARNING,
                            "{0} not reachable yet ({1}); retrying for up to {2} ms", what, e.getMessage(), timeoutMs);
                }
                try {
                    Thread.sleep(pauseMs);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
                pauseMs = Math.min(2_000, pauseMs * 2);
            }
        }
    }

    /** Connects to the registry {@code url} names (etcd answers within the registry deadline or this fails). */
    static Registry registry(String url, RuntimeConfig config) {
        String u = require("--registry", url);
        if (u.startsWith(MEMORY)) {
            String name = memoryName("--registry", u);
            return new EmbeddedRegistry(STORES.computeIfAbsent(name, n -> EmbeddedRegistryStore.started(MEMORY_TICK_MS)),
                    config);
        }
        if (u.startsWith("etcd://") || u.startsWith("http://")) {
            return EtcdRegistry.connect(u, config);
        }
        throw new ConfigException("--registry '" + u + "' must be etcd://host:port[,host:port...] or memory://name");
    }

    /** Connects to the event bus {@code url} names. */
    static EventBus events(String url, String connectionName, RuntimeConfig config) {
        String u = require("--events", url);
        if (u.startsWith(MEMORY)) {
            String name = memoryName("--events", u);
            return new Unclosable(BUSES.computeIfAbsent(name, n -> new EmbeddedEventBus(config.eventsQueueCapacity())));
        }
        if (u.startsWith("nats://")) {
            return NatsEventBus.connect(u, connectionName, config);
        }
        throw new ConfigException("--events '" + u + "' must be nats://host:port[,host:port...] or memory://name");
    }

    /**
     * The runtime configuration: {@code tandem.runtime.*} system properties, then environment
     * variables mirroring them ({@code TANDEM_RUNTIME_LEASE_TTL_MS}); a system property wins.
     */
    static RuntimeConfig config() {
        Map<String, String> props = new TreeMap<>();
        String envPrefix = "TANDEM_RUNTIME_";
        for (Map.Entry<String, String> e : System.getenv().entrySet()) {
            if (e.getKey().startsWith(envPrefix)) {
                props.put("tandem.runtime." + e.getKey().substring(envPrefix.length()).toLowerCase(Locale.ROOT)
                        .replace('_', '-'), e.getValue());
            }
        }
        for (String key : System.getProperties().stringPropertyNames()) {
            if (key.startsWith("tandem.runtime.")) {
                props.put(key, System.getProperty(key));
            }
        }
        return RuntimeConfig.fromProperties(props);
    }

    private static String require(String option, String url) {
        if (url == null || url.isBlank()) {
            throw new ConfigException(option + " is required");
        }
        return url.trim();
    }

    private static String memoryName(String option, String url) {
        String name = url.substring(MEMORY.length());
        if (name.isEmpty() || !name.matches("[A-Za-z0-9_.-]+")) {
            throw new ConfigException(option + " '" + url + "': memory:// needs a name of letters, digits, '.', '_' or '-'");
        }
        return name;
    }

    /** A shared in-JVM bus that one user's close() must not close for the others. */
    private record Unclosable(EventBus bus) implements EventBus {
        @Override
        public boolean publish(String subject, byte[] payload) {
            return bus.publish(subject, payload);
        }

        @Override
        public EventSubscription subscribe(String subjectPattern, EventHandler handler) {
            return bus.subscribe(subjectPattern, handler);
        }

        @Override
        public boolean isConnected() {
            return bus.isConnected();
        }

        @Override
        public void close() {
            // shared: lives as long as the JVM
        }
    }
}
