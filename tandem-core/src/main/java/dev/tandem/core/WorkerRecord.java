package dev.tandem.core;

import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * What a worker tells the registry about itself: who it is, what it serves, where to reach it and
 * what its KV cache looks like. One record per worker process, kept under a lease.
 *
 * @param instanceId        unique per worker process; letters, digits, '_' and '-' only (it is a
 *                          registry key segment and an event-plane subject token), 1..128 chars
 * @param role              aggregated, prefill or decode
 * @param modelName         the model name clients use
 * @param rpcAddress        request-plane address, {@code host:port} ({@code [v6]:port} for IPv6)
 * @param layout            KV block layout; a model's workers must agree on the block size
 * @param totalBlocks       blocks in the worker's KV pool, > 0
 * @param maxBatchTokens    most tokens in one forward step, > 0
 * @param transferEndpoints how the worker's KV pool can be reached by the transfer plane, in the
 *                          worker's order of preference (the same endpoints its KvHandles carry);
 *                          may be empty
 * @param hostId            identity of the machine (for example its boot id); two workers with the
 *                          same hostId share a host and may use same-host transports
 */
public record WorkerRecord(String instanceId, WorkerRole role, String modelName, String rpcAddress,
                           KvLayout layout, int totalBlocks, int maxBatchTokens,
                           List<TransferEndpoint> transferEndpoints, String hostId) {

    /** Allowed instance ids (and namespace names): safe as etcd key segments and NATS subject tokens. */
    public static final Pattern ID_PATTERN = Pattern.compile("[A-Za-z0-9_-]{1,128}");

    public WorkerRecord {
        if (instanceId == null || !ID_PATTERN.matcher(instanceId).matches()) {
            throw new IllegalArgumentException("instance id '" + instanceId
                    + "' must be 1..128 letters, digits, '_' or '-'");
        }
        Objects.requireNonNull(role, "role");
        if (modelName == null || modelName.isBlank()) {
            throw new IllegalArgumentException("worker " + instanceId + ": model name is empty");
        }
        parsePort(instanceId, rpcAddress);
        Objects.requireNonNull(layout, "layout");
        if (totalBlocks <= 0 || maxBatchTokens <= 0) {
            throw new IllegalArgumentException("worker " + instanceId + ": capacity must be positive, got totalBlocks="
                    + totalBlocks + " maxBatchTokens=" + maxBatchTokens);
        }
        if (transferEndpoints == null) {
            transferEndpoints = List.of();
        } else {
            for (TransferEndpoint e : transferEndpoints) {
                if (e == null) {
                    throw new IllegalArgumentException("worker " + instanceId + ": a transfer endpoint is null");
                }
            }
            transferEndpoints = List.copyOf(transferEndpoints);
        }
        if (hostId == null || hostId.isBlank()) {
            throw new IllegalArgumentException("worker " + instanceId + ": host id is empty");
        }
    }

    /** Host part of {@link #rpcAddress()}, without IPv6 brackets. */
    public String rpcHost() {
        int colon = rpcAddress.lastIndexOf(':');
        String host = rpcAddress.substring(0, colon);
        return host.startsWith("[") ? host.substring(1, host.length() - 1) : host;
    }

    /** Port part of {@link #rpcAddress()}. */
    public int rpcPort() {
        return parsePort(instanceId, rpcAddress);
    }

    /** True when both workers run on the same machine. */
    public boolean sharesHostWith(WorkerRecord other) {
        return hostId.equals(other.hostId);
    }

    private static int parsePort(String instanceId, String address) {
        int colon = address == null ? -1 : address.lastIndexOf(':');
        if (colon <= 0 || colon == address.length() - 1) {
            throw new IllegalArgumentException("worker " + instanceId + ": RPC address '" + address
                    + "' is not host:port");
        }
        String host = address.substring(0, colon);
        if (host.contains(":") && !(host.startsWith("[") && host.endsWith("]"))) {
            throw new IllegalArgumentException("worker " + instanceId + ": RPC address '" + address
                    + "' has an IPv6 host without brackets ([addr]:port)");
        }
        int port;
        try {
            port = Integer.parseInt(address.substring(colon + 1));
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("worker " + instanceId + ": RPC address '" + address
                    + "' has no valid port (1..65535)");
        }
        return port;
    }
}
