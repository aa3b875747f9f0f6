package dev.tandem.worker;

import dev.tandem.core.ConfigException;
import dev.tandem.core.TransferKind;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.runtime.transfer.HostIdentity;
import dev.tandem.runtime.transfer.TransferConfig;
import dev.tandem.worker.upstream.NixlEngine;
import dev.tandem.worker.upstream.UpstreamConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * What one worker process runs and how it is reached. Validated here, at startup.
 *
 * @param instanceId     the worker's id in the registry and on the event plane; letters, digits,
 *                       '_' and '-' ({@link WorkerRecord#ID_PATTERN}); {@link #defaultInstanceId}
 *                       makes a unique one
 * @param role           aggregated, prefill or decode
 * @param modelFile      the GGUF model; a mock worker reads only its shape and vocabulary size
 * @param servedName     the model name clients use; null for the file name without {@code .gguf}
 * @param mock           run the mock engine (simulated step times, no model computation) instead
 *                       of the real one; the registry record and every log line say so
 * @param mockSpeedup    divides the mock's step times, &gt; 0
 * @param engine         KV cache and batching settings
 * @param threads        kernel threads of the real engine, &gt;= 1
 * @param rpcBindHost    address the request plane (and the KV transfer listeners) bind, e.g. 0.0.0.0
 * @param rpcPort        request-plane port, 0 for any free one; range [0, 65535]
 * @param advertiseHost  host name or address other processes use to reach this worker (its
 *                       registry record and KV transfer endpoints carry it)
 * @param transferKinds  KV transports to serve (local, shm, tcp, ucx); at least one
 * @param drainTimeoutMs on shutdown, how long running requests may finish after the worker has
 *                       left the registry before they are cancelled, ms; range [0, 3,600,000]
 * @param upstream       an external server this worker adapts (a sidecar: {@code modelFile} gives
 *                       the tokenizer's model and the KV layout; no mock), or null; in role prefill
 *                       or decode it must speak vLLM's NIXL disaggregation protocol (vLLM, or an
 *                       OpenAI-compatible server said to: not llama-server, not SGLang)
 */
public record WorkerSpec(String instanceId, WorkerRole role, Path modelFile, String servedName, boolean mock,
                         double mockSpeedup, EngineConfig engine, int threads, String rpcBindHost, int rpcPort,
                         String advertiseHost, Set<TransferKind> transferKinds, long drainTimeoutMs,
                         UpstreamConfig upstream) {

    public static final String DEFAULT_BIND_HOST = "0.0.0.0";
    public static final String DEFAULT_ADVERTISE_HOST = "127.0.0.1";
    public static final long DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

    public WorkerSpec {
        if (instanceId == null || !WorkerRecord.ID_PATTERN.matcher(instanceId).matches()) {
            throw new ConfigException("worker id '" + instanceId + "' must be 1..128 letters, digits, '_' or '-'");
        }
        if (role == null) {
            throw new ConfigException("worker role is missing (aggregated, prefill or decode)");
        }
        if (modelFile == null || !Files.isReadable(modelFile)) {
            throw new ConfigException("model file " + modelFile + " cannot be read");
        }
        if (servedName != null && servedName.isBlank()) {
            throw new ConfigException("the served model name must not be blank");
        }
        if (!(mockSpeedup > 0) || Double.isInfinite(mockSpeedup)) {
            throw new ConfigException("mock speed-up must be a positive number, got " + mockSpeedup);
        }
        if (engine == null) {
            throw new ConfigException("engine settings are missing");
        }
        if (threads < 1) {
            throw new ConfigException("threads must be at least 1, got " + threads);
        }
        if (rpcBindHost == null || rpcBindHost.isBlank()) {
            throw new ConfigException("the RPC bind address must not be empty");
        }
        if (rpcPort < 0 || rpcPort > 65535) {
            throw new ConfigException("--rpc-port must be in [0, 65535], got " + rpcPort);
        }
        if (advertiseHost == null || advertiseHost.isBlank() || advertiseHost.contains("/")
                || advertiseHost.chars().anyMatch(Character::isWhitespace)) {
            throw new ConfigException("--advertise must be a host name or address, got '" + advertiseHost + "'");
        }
        if (transferKinds == null || transferKinds.isEmpty()) {
            throw new ConfigException("at least one KV transfer kind is needed (local, shm, tcp, ucx)");
        }
        transferKinds = Set.copyOf(EnumSet.copyOf(transferKinds));
        if (drainTimeoutMs < 0 || drainTimeoutMs > 3_600_000) {
            throw new ConfigException("drain timeout must be in [0, 3600000] ms, got " + drainTimeoutMs);
        }
        if (upstream != null && mock) {
            throw new ConfigException("--upstream and --mock exclude each other");
        }
        if (upstream != null && role != WorkerRole.AGGREGATED && NixlEngine.refusal(upstream.kind()) != null) {
            throw new ConfigException("--role " + role.name().toLowerCase(Locale.ROOT) + " with --upstream-kind "
                    + upstream.kind().label() + ": " + NixlEngine.refusal(upstream.kind()));
        }
    }

    /**
     * A spec with defaults for everything but the model: aggregated, real engine, any free port
     * on all interfaces advertised as loopback, KV transports local/shm/tcp.
     */
    public static WorkerSpec defaults(Path modelFile) {
        return new WorkerSpec(defaultInstanceId(WorkerRole.AGGREGATED), WorkerRole.AGGREGATED, modelFile, null, false,
                1.0, EngineConfig.DEFAULT, Math.max(1, Runtime.getRuntime().availableProcessors()), DEFAULT_BIND_HOST,
                0, DEFAULT_ADVERTISE_HOST, TransferConfig.DEFAULT_KINDS, DEFAULT_DRAIN_TIMEOUT_MS, null);
    }

    /** {@code <role>-<pid>-<6 random hex digits>}: unique per process, readable in logs. */
    public static String defaultInstanceId(WorkerRole role) {
        return role.name().toLowerCase(Locale.ROOT) + "-" + ProcessHandle.current().pid() + "-"
                + String.format("%06x", ThreadLocalRandom.current().nextInt(1 << 24));
    }

    /** The name clients use for the model. */
    public String modelName() {
        return servedName != null ? servedName : modelFile.getFileName().toString().replaceFirst("(?i)\\.gguf$", "");
    }

    /** The transfer plane's settings: listeners on the RPC bind address, endpoints on the advertised host. */
    public TransferConfig transferConfig() {
        return new TransferConfig(transferKinds, rpcBindHost, 0, 0, advertiseHost, HostIdentity.local());
    }

    public WorkerSpec withInstanceId(String id) {
        return new WorkerSpec(id, role, modelFile, servedName, mock, mockSpeedup, engine, threads, rpcBindHost, rpcPort,
                advertiseHost, transferKinds, drainTimeoutMs, upstream);
    }

    public WorkerSpec withRole(WorkerRole r) {
        return new WorkerSpec(instanceId, r, modelFile, servedName, mock, mockSpeedup, engine, threads, rpcBindHost,
                rpcPort, advertiseHost, transferKinds, drainTimeoutMs, upstream);
    }

    public WorkerSpec withServedName(String name) {
        return new WorkerSpec(instanceId, role, modelFile, name, mock, mockSpeedup, engine, threads, rpcBindHost,
                rpcPort, advertiseHost, transferKinds, drainTimeoutMs, upstream);
    }

    public WorkerSpec withMock(boolean m, double speedup) {
        return new WorkerSpec(instanceId, role, modelFile, servedName, m, speedup, engine, threads, rpcBindHost,
                rpcPort, advertiseHost, transferKinds, drainTimeoutMs, upstream);
    }

    public WorkerSpec withEngine(EngineConfig e, int threadCount) {
        return new WorkerSpec(instanceId, role, modelFile, servedName, mock, mockSpeedup, e, threadCount, rpcBindHost,
                rpcPort, advertiseHost, transferKinds, drainTimeoutMs, upstream);
    }

    public WorkerSpec withRpc(String bindHost, int port, String advertise) {
        return new WorkerSpec(instanceId, role, modelFile, servedName, mock, mockSpeedup, engine, threads, bindHost,
                port, advertise, transferKinds, drainTimeoutMs, upstream);
    }

    public WorkerSpec withTransferKinds(Set<TransferKind> kinds) {
        return new WorkerSpec(instanceId, role, modelFile, servedName, mock, mockSpeedup, engine, threads, rpcBindHost,
                rpcPort, advertiseHost, kinds, drainTimeoutMs, upstream);
    }

    public WorkerSpec withUpstream(UpstreamConfig u) {
        return new WorkerSpec(instanceId, role, modelFile, servedName, mock, mockSpeedup, engine, threads, rpcBindHost,
                rpcPort, advertiseHost, transferKinds, drainTimeoutMs, u);
    }

    public WorkerSpec withDrainTimeoutMs(long ms) {
        return new WorkerSpec(instanceId, role, modelFile, servedName, mock, mockSpeedup, engine, threads, rpcBindHost,
                rpcPort, advertiseHost, transferKinds, ms, upstream);
    }
}
