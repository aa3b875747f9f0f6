package dev.tandem.runtime;

import dev.tandem.core.ConfigException;
import dev.tandem.core.WorkerRecord;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Configuration of the runtime module (registry, event plane, request plane). Validated here, at
 * startup; every other class trusts it.
 *
 * <p>Keys ({@link #fromProperties}) are {@code tandem.runtime.<name>}; the environment mirrors them
 * ({@code TANDEM_RUNTIME_LEASE_TTL_MS}) through the caller's loader.
 *
 * @param namespace                  {@code tandem.runtime.namespace}: groups one deployment's keys and
 *                                   subjects; default {@value #DEFAULT_NAMESPACE}; letters, digits, '_', '-'
 * @param leaseTtlMs                 {@code tandem.runtime.lease-ttl-ms}: registration lease TTL, ms;
 *                                   default 10,000; range [1,000, 300,000]; etcd rounds up to whole seconds
 *                                   (and to its own minimum, 2 s with default election settings)
 * @param registryTimeoutMs          {@code tandem.runtime.registry-timeout-ms}: deadline of each etcd call,
 *                                   ms; default 5,000; range [100, 60,000]
 * @param eventsReconnectWaitMs      {@code tandem.runtime.events-reconnect-wait-ms}: pause between NATS
 *                                   reconnect attempts, ms; default 500; range [10, 60,000]
 * @param eventsConnectTimeoutMs     {@code tandem.runtime.events-connect-timeout-ms}: NATS connect deadline,
 *                                   ms; default 5,000; range [100, 60,000]
 * @param eventsFlushIntervalMs      {@code tandem.runtime.events-flush-interval-ms}: most time a KV event
 *                                   waits to be batched, ms; default 5; range [0, 1,000]
 * @param eventsQueueCapacity        {@code tandem.runtime.events-queue-capacity}: KV events a worker holds
 *                                   before dropping (the router then resyncs), events; default 65,536;
 *                                   range [16, 16,777,216]
 * @param loadReportIntervalMs       {@code tandem.runtime.load-report-interval-ms}: period of load reports,
 *                                   ms; default 100; range [10, 60,000]
 * @param rpcGenerateTimeoutMs       {@code tandem.runtime.rpc-generate-timeout-ms}: deadline of one whole
 *                                   generate stream, ms; default 600,000; range [100, 86,400,000]
 * @param rpcPrefillTimeoutMs        {@code tandem.runtime.rpc-prefill-timeout-ms}: deadline of a prefill
 *                                   call, ms; default 60,000; range [100, 3,600,000]
 * @param rpcCallTimeoutMs           {@code tandem.runtime.rpc-call-timeout-ms}: deadline of release,
 *                                   kvSnapshot, health and load, ms; default 5,000; range [100, 600,000]
 * @param rpcKeepAliveMs             {@code tandem.runtime.rpc-keep-alive-ms}: HTTP/2 ping period on a busy
 *                                   connection, so a silent peer is detected, ms; default 10,000; range
 *                                   [1,000, 3,600,000]; the ping itself times out after the same period
 * @param rpcMaxMessageBytes         {@code tandem.runtime.rpc-max-message-bytes}: largest RPC message
 *                                   (a KV snapshot is 8 bytes per block), bytes; default 64 MiB; range
 *                                   [1 MiB, 1 GiB]
 * @param tlsCertChainPath           {@code tandem.runtime.tls-cert-chain-path}: server certificate chain
 *                                   (PEM); with {@code tlsPrivateKeyPath} enables TLS on the RPC server;
 *                                   null = plaintext
 * @param tlsPrivateKeyPath          {@code tandem.runtime.tls-private-key-path}: server private key (PKCS#8 PEM)
 * @param tlsTrustCertPath           {@code tandem.runtime.tls-trust-cert-path}: CA certificates (PEM) a
 *                                   client trusts; non-null enables TLS on RPC clients; null = plaintext
 */
public record RuntimeConfig(String namespace, long leaseTtlMs, long registryTimeoutMs,
                            long eventsReconnectWaitMs, long eventsConnectTimeoutMs, long eventsFlushIntervalMs,
                            int eventsQueueCapacity, long loadReportIntervalMs,
                            long rpcGenerateTimeoutMs, long rpcPrefillTimeoutMs, long rpcCallTimeoutMs,
                            long rpcKeepAliveMs, int rpcMaxMessageBytes,
                            Path tlsCertChainPath, Path tlsPrivateKeyPath, Path tlsTrustCertPath) {

    public static final String DEFAULT_NAMESPACE = "default";
    public static final long DEFAULT_LEASE_TTL_MS = 10_000;
    public static final long DEFAULT_REGISTRY_TIMEOUT_MS = 5_000;
    public static final long DEFAULT_EVENTS_RECONNECT_WAIT_MS = 500;
    public static final long DEFAULT_EVENTS_CONNECT_TIMEOUT_MS = 5_000;
    public static final long DEFAULT_EVENTS_FLUSH_INTERVAL_MS = 5;
    public static final int DEFAULT_EVENTS_QUEUE_CAPACITY = 65_536;
    public static final long DEFAULT_LOAD_REPORT_INTERVAL_MS = 100;
    public static final long DEFAULT_RPC_GENERATE_TIMEOUT_MS = 600_000;
    public static final long DEFAULT_RPC_PREFILL_TIMEOUT_MS = 60_000;
    public static final long DEFAULT_RPC_CALL_TIMEOUT_MS = 5_000;
    public static final long DEFAULT_RPC_KEEP_ALIVE_MS = 10_000;
    public static final int DEFAULT_RPC_MAX_MESSAGE_BYTES = 64 << 20;

    public RuntimeConfig {
        if (namespace == null || !WorkerRecord.ID_PATTERN.matcher(namespace).matches()) {
            throw new ConfigException("tandem.runtime.namespace '" + namespace
                    + "' must be 1..128 letters, digits, '_' or '-'");
        }
        range("lease-ttl-ms", leaseTtlMs, 1_000, 300_000);
        range("registry-timeout-ms", registryTimeoutMs, 100, 60_000);
        range("events-reconnect-wait-ms", eventsReconnectWaitMs, 10, 60_000);
        range("events-connect-timeout-ms", eventsConnectTimeoutMs, 100, 60_000);
        range("events-flush-interval-ms", eventsFlushIntervalMs, 0, 1_000);
        range("events-queue-capacity", eventsQueueCapacity, 16, 1 << 24);
        range("load-report-interval-ms", loadReportIntervalMs, 10, 60_000);
        range("rpc-generate-timeout-ms", rpcGenerateTimeoutMs, 100, 86_400_000);
        range("rpc-prefill-timeout-ms", rpcPrefillTimeoutMs, 100, 3_600_000);
        range("rpc-call-timeout-ms", rpcCallTimeoutMs, 100, 600_000);
        range("rpc-keep-alive-ms", rpcKeepAliveMs, 1_000, 3_600_000);
        range("rpc-max-message-bytes", rpcMaxMessageBytes, 1 << 20, 1 << 30);
        if ((tlsCertChainPath == null) != (tlsPrivateKeyPath == null)) {
            throw new ConfigException("TLS needs both tandem.runtime.tls-cert-chain-path and "
                    + "tandem.runtime.tls-private-key-path, got only one");
        }
        readable("tls-cert-chain-path", tlsCertChainPath);
        readable("tls-private-key-path", tlsPrivateKeyPath);
        readable("tls-trust-cert-path", tlsTrustCertPath);
    }

    /** Every field at its default. */
    public static RuntimeConfig defaults() {
        return new RuntimeConfig(DEFAULT_NAMESPACE, DEFAULT_LEASE_TTL_MS, DEFAULT_REGISTRY_TIMEOUT_MS,
                DEFAULT_EVENTS_RECONNECT_WAIT_MS, DEFAULT_EVENTS_CONNECT_TIMEOUT_MS, DEFAULT_EVENTS_FLUSH_INTERVAL_MS,
                DEFAULT_EVENTS_QUEUE_CAPACITY, DEFAULT_LOAD_REPORT_INTERVAL_MS, DEFAULT_RPC_GENERATE_TIMEOUT_MS,
                DEFAULT_RPC_PREFILL_TIMEOUT_MS, DEFAULT_RPC_CALL_TIMEOUT_MS, DEFAULT_RPC_KEEP_ALIVE_MS,
                DEFAULT_RPC_MAX_MESSAGE_BYTES, null, null, null);
    }

    /**
     * Reads {@code tandem.runtime.*} keys; absent keys keep their defaults. Unknown
     * {@code tandem.runtime.} keys are refused so that a typo is not silently ignored.
     */
    public static RuntimeConfig fromProperties(Map<String, String> properties) {
        String prefix = "tandem.runtime.";
        for (String key : properties.keySet()) {
            if (key.startsWith(prefix) && !KEYS.contains(key.substring(prefix.length()))) {
                throw new ConfigException("unknown configuration key '" + key + "' (known: " + KEYS + ")");
            }
        }
        Function<String, String> get = name -> properties.get(prefix + name);
        RuntimeConfig d = defaults();
        return new RuntimeConfig(
                str(get, "namespace", d.namespace),
                num(get, "lease-ttl-ms", d.leaseTtlMs),
                num(get, "registry-timeout-ms", d.registryTimeoutMs),
                num(get, "events-reconnect-wait-ms", d.eventsReconnectWaitMs),
                num(get, "events-connect-timeout-ms", d.eventsConnectTimeoutMs),
                num(get, "events-flush-interval-ms", d.eventsFlushIntervalMs),
                intNum(get, "events-queue-capacity", d.eventsQueueCapacity),
                num(get, "load-report-interval-ms", d.loadReportIntervalMs),
                num(get, "rpc-generate-timeout-ms", d.rpcGenerateTimeoutMs),
                num(get, "rpc-prefill-timeout-ms", d.rpcPrefillTimeoutMs),
                num(get, "rpc-call-timeout-ms", d.rpcCallTimeoutMs),
                num(get, "rpc-keep-alive-ms", d.rpcKeepAliveMs),
                intNum(get, "rpc-max-message-bytes", d.rpcMaxMessageBytes),
                path(get, "tls-cert-chain-path"), path(get, "tls-private-key-path"), path(get, "tls-trust-cert-path"));
    }

    private static final List<String> KEYS = List.of("namespace", "lease-ttl-ms",
            "registry-timeout-ms", "events-reconnect-wait-ms", "events-connect-timeout-ms", "events-flush-interval-ms",
            "events-queue-capacity", "load-report-interval-ms", "rpc-generate-timeout-ms", "rpc-prefill-timeout-ms",
            "rpc-call-timeout-ms", "rpc-keep-alive-ms", "rpc-max-message-bytes", "tls-cert-chain-path",
            "tls-private-key-path", "tls-trust-cert-path");

    public RuntimeConfig withNamespace(String ns) {
        return new RuntimeConfig(ns, leaseTtlMs, registryTimeoutMs, eventsReconnectWaitMs, eventsConnectTimeoutMs,
                eventsFlushIntervalMs, eventsQueueCapacity, loadReportIntervalMs, rpcGenerateTimeoutMs,
                rpcPrefillTimeoutMs, rpcCallTimeoutMs, rpcKeepAliveMs, rpcMaxMessageBytes, tlsCertChainPath,
                tlsPrivateKeyPath, tlsTrustCertPath);
    }

    public RuntimeConfig withLeaseTtlMs(long ms) {
        return new RuntimeConfig(namespace, ms, registryTimeoutMs, eventsReconnectWaitMs, eventsConnectTimeoutMs,
                eventsFlushIntervalMs, eventsQueueCapacity, loadReportIntervalMs, rpcGenerateTimeoutMs,
                rpcPrefillTimeoutMs, rpcCallTimeoutMs, rpcKeepAliveMs, rpcMaxMessageBytes, tlsCertChainPath,
                tlsPrivateKeyPath, tlsTrustCertPath);
    }

    public RuntimeConfig withEvents(long reconnectWaitMs, long flushIntervalMs, int queueCapacity) {
        return new RuntimeConfig(namespace, leaseTtlMs, registryTimeoutMs, reconnectWaitMs, eventsConnectTimeoutMs,
                flushIntervalMs, queueCapacity, loadReportIntervalMs, rpcGenerateTimeoutMs,
                rpcPrefillTimeoutMs, rpcCallTimeoutMs, rpcKeepAliveMs, rpcMaxMessageBytes, tlsCertChainPath,
                tlsPrivateKeyPath, tlsTrustCertPath);
    }

    public RuntimeConfig withLoadReportIntervalMs(long ms) {
        return new RuntimeConfig(namespace, leaseTtlMs, registryTimeoutMs, eventsReconnectWaitMs, eventsConnectTimeoutMs,
                eventsFlushIntervalMs, eventsQueueCapacity, ms, rpcGenerateTimeoutMs,
                rpcPrefillTimeoutMs, rpcCallTimeoutMs, rpcKeepAliveMs, rpcMaxMessageBytes, tlsCertChainPath,
                tlsPrivateKeyPath, tlsTrustCertPath);
    }

    public RuntimeConfig withRpcTimeouts(long generateMs, long prefillMs, long callMs) {
        return new RuntimeConfig(namespace, leaseTtlMs, registryTimeoutMs, eventsReconnectWaitMs, eventsConnectTimeoutMs,
                eventsFlushIntervalMs, eventsQueueCapacity, loadReportIntervalMs, generateMs, prefillMs, callMs,
                rpcKeepAliveMs, rpcMaxMessageBytes, tlsCertChainPath, tlsPrivateKeyPath, tlsTrustCertPath);
    }

    public RuntimeConfig withTls(Path certChain, Path privateKey, Path trustCert) {
        return new RuntimeConfig(namespace, leaseTtlMs, registryTimeoutMs, eventsReconnectWaitMs, eventsConnectTimeoutMs,
                eventsFlushIntervalMs, eventsQueueCapacity, loadReportIntervalMs, rpcGenerateTimeoutMs,
                rpcPrefillTimeoutMs, rpcCallTimeoutMs, rpcKeepAliveMs, rpcMaxMessageBytes, certChain, privateKey,
                trustCert);
    }

    public Duration leaseTtl() {
        return Duration.ofMillis(leaseTtlMs);
    }

    /** True when the RPC server serves TLS. */
    public boolean serverTls() {
        return tlsCertChainPath != null;
    }

    /** True when RPC clients connect with TLS. */
    public boolean clientTls() {
        return tlsTrustCertPath != null;
    }

    private static void range(String name, long value, long min, long max) {
        if (value < min || value > max) {
            throw new ConfigException("tandem.runtime." + name + " must be in [" + min + ", " + max + "], got " + value);
        }
    }

    private static void readable(String name, Path path) {
        if (path != null && !Files.isReadable(path)) {
            throw new ConfigException("tandem.runtime." + name + ": cannot read " + path);
        }
    }

    private static String str(Function<String, String> get, String name, String fallback) {
        String v = get.apply(name);
        return v == null ? fallback : v.trim();
    }

    private static long num(Function<String, String> get, String name, long fallback) {
        String v = get.apply(name);
        if (v == null) {
            return fallback;
        }
        try {
            return Long.parseLong(v.trim().replace("_", ""));
        } catch (NumberFormatException e) {
            throw new ConfigException("tandem.runtime." + name + " must be an integer, got '" + v + "'");
        }
    }

    private static int intNum(Function<String, String> get, String name, int fallback) {
        long v = num(get, name, fallback);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new ConfigException("tandem.runtime." + name + " is out of range, got " + v);
        }
        return (int) v;
    }

    private static Path path(Function<String, String> get, String name) {
        String v = get.apply(name);
        return v == null || v.isBlank() ? null : Path.of(v.trim());
    }
}
