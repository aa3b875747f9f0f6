package dev.tandem.core;

/**
 * One way to reach a worker's KV pool, as advertised in its registry record and in every
 * {@link KvHandle} it hands out.
 *
 * @param kind    the transport
 * @param scopeId where the address is meaningful: the JVM instance id for {@link TransferKind#LOCAL},
 *                the host id for {@link TransferKind#SHM}; empty for network transports
 *                ({@link TransferKind#TCP}, {@link TransferKind#UCX}), which are reachable from
 *                anywhere the address routes
 * @param address LOCAL: the pool's name in its JVM; SHM: the absolute path of the pool file;
 *                TCP and UCX: {@code host:port}; NIXL: the prefill server's base URL
 *                ({@code http(s)://host:port})
 */
public record TransferEndpoint(TransferKind kind, String scopeId, String address) {
    public TransferEndpoint {
        if (kind == null) {
            throw new IllegalArgumentException("transfer endpoint kind is null");
        }
        if (scopeId == null) {
            scopeId = "";
        }
        if (address == null || address.isBlank()) {
            throw new IllegalArgumentException("transfer endpoint " + kind + " has no address");
        }
        if ((kind == TransferKind.LOCAL || kind == TransferKind.SHM) && scopeId.isEmpty()) {
            throw new IllegalArgumentException("transfer endpoint " + kind + " " + address + " needs a scope id");
        }
        if (kind == TransferKind.NIXL && !(address.startsWith("http://") || address.startsWith("https://"))) {
            throw new IllegalArgumentException("transfer endpoint nixl needs the prefill server's http(s) URL, got "
                    + address);
        }
    }

    /** {@code host} of a {@code host:port} address (TCP, UCX); IPv6 literals in brackets. */
    public String host() {
        int colon = address.lastIndexOf(':');
        if (colon <= 0) {
            throw new ConfigException("transfer endpoint " + kind.label() + " address '" + address + "' is not host:port");
        }
        String host = address.substring(0, colon);
        return host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    }

    /** {@code port} of a {@code host:port} address (TCP, UCX). */
    public int port() {
        int colon = address.lastIndexOf(':');
        try {
            int port = Integer.parseInt(address.substring(colon + 1));
            if (colon <= 0 || port <= 0 || port > 65535) {
                throw new NumberFormatException();
            }
            return port;
        } catch (NumberFormatException e) {
            throw new ConfigException("transfer endpoint " + kind.label() + " address '" + address + "' is not host:port");
        }
    }

    @Override
    public String toString() {
        return kind.label() + "://" + (scopeId.isEmpty() ? "" : scopeId + "/") + address;
    }
}
